"""The SQL a BigQuery analysis sends: the failure windows as a table of ranges, the failures'
keys, the lines a time-joining rule can read, and only the columns the LogFrame is built from.

Two layouts of the same LogEntries are read (their schemas: `tests/fake_bigquery.py` names the
documentation each follows):

- the linked dataset of a Log Analytics bucket: view `_AllLogs`, snake_case columns, payloads
  and labels as JSON;
- the tables of a classic log sink: one per log (`run_googleapis_com_requests`, `_stdout`,
  `_stderr`, `_varlog_system`), camelCase columns and RECORD payloads, date-sharded
  (`<table>_YYYYMMDD`) or partitioned on `timestamp`.

A row comes back when it lies in a failure window and either holds one of the failures' keys
(connection id, user id, trace) anywhere in its text, payload, labels, trace or URL, or lies in
a band where a rule joins lines by time and passes one of the `LineTest`s (kinds, severities,
statuses, message terms: read off the rules above this layer, which hands them down as plain
data). A `LineTest` is a necessary condition, never a sufficient one: a row it keeps out no
selection could take. Every value is a query parameter; the constant outer time range on
`timestamp` lets BigQuery prune partitions (and picks the shards).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fivewhys.model import Window

LayoutKind = Literal["log-analytics", "sink-sharded", "sink-partitioned"]

ALL_LOGS = "_AllLogs"
#: sink table (without a shard suffix) -> the LogEntry kind it holds
SINK_TABLES = {
    "run_googleapis_com_requests": "request",
    "run_googleapis_com_stdout": "stdout",
    "run_googleapis_com_stderr": "stderr",
    "run_googleapis_com_varlog_system": "system",
}
SHARD = re.compile(r"^(?P<base>[A-Za-z0-9_]+?)_(?P<day>\d{8})$")
#: logName patterns of the line kinds (as `logs.entry.kind_of` tells them; `%2F` or `/`)
KIND_PATTERNS = (
    ("request", r"run\.googleapis\.com(%2[Ff]|/)requests$"),
    ("stdout", r"/logs/(.*(%2[Ff]|/))?stdout$"),
    ("stderr", r"/logs/(.*(%2[Ff]|/))?stderr$"),
    ("system", r"varlog(%2[Ff]|/)system$"),
    ("audit", r"/logs/cloudaudit\.googleapis\.com"),
)
#: the columns every SELECT of the query returns, in order
COLUMNS = (
    "timestamp", "severity", "log_name", "insert_id", "text_payload", "json_payload",
    "proto_payload", "labels", "resource_labels", "request_method", "request_url", "status",
    "user_agent", "latency_seconds", "latency_nanos", "latency_text", "trace", "span_id",
)  # fmt: skip

_WINDOWS_TYPE = "ARRAY<STRUCT<start_at TIMESTAMP, end_at TIMESTAMP>>"
_PROJECT = re.compile(r"^[a-z][a-z0-9.:-]{0,62}[a-z0-9]$")
_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")


@dataclass(frozen=True)
class SinkTable:
    """One table of a sink: its name, the kind of log it holds, and its (dotted) columns."""

    name: str
    kind: str
    columns: frozenset[str]


@dataclass(frozen=True)
class Layout:
    """Where the entries are: the dataset, how it is laid out, and (for a sink) its tables."""

    project: str
    dataset: str
    kind: LayoutKind
    tables: tuple[SinkTable, ...] = ()


@dataclass(frozen=True)
class LineTest:
    """The lines one rule selection can take, as the query can tell them; None accepts any.

    `kinds` are LogFrame kinds (request, stdout, stderr, system, audit; a line of another log
    passes); `severities` the names accepted (DEFAULT also for a line without one); `statuses`
    a request log's status, or those digits in another line's text when `status_in_text`;
    `terms` alternatives of lower-case terms one of which the message holds every term of (a
    line whose message is not verbatim text passes: `search_terms` explains)."""

    kinds: tuple[str, ...] | None = None
    severities: tuple[str, ...] | None = None
    statuses: tuple[int, ...] | None = None
    status_in_text: bool = False
    terms: tuple[tuple[str, ...], ...] | None = None


@dataclass(frozen=True)
class TimeLines:
    """The lines without a key a query returns: inside one of `bands`, passing one of `tests`
    (None: any line there)."""

    bands: tuple[Window, ...] = ()
    tests: tuple[LineTest, ...] | None = ()


@dataclass(frozen=True)
class Param:
    """A named query parameter: its BigQuery type and value."""

    name: str
    type: str
    value: Any


@dataclass(frozen=True)
class Query:
    """The SQL (parameterized) and its parameters; `tables` are the tables it reads."""

    sql: str
    params: tuple[Param, ...]
    tables: tuple[str, ...]

    def console(self) -> str:
        """The query as it runs pasted into the BigQuery console: the parameters as a leading
        DECLARE block of quoted literals, the query text referring to them by name."""
        declares = [
            f"DECLARE {p.name} {p.type} DEFAULT {literal(p.value, p.type)};" for p in self.params
        ]
        return "\n".join(declares) + "\n\n" + self.sql.replace("@p_", "p_") + ";\n"


def parse_dataset(text: str) -> tuple[str, str]:
    """`PROJECT.DATASET` as (project, dataset); ValueError when it is not one."""
    project, dot, dataset = text.strip().rpartition(".")
    if not dot or not _PROJECT.match(project) or not _DATASET.match(dataset):
        raise ValueError(f"expected PROJECT.DATASET (e.g. my-project.logs), not {text!r}")
    return project, dataset


def build_query(
    layout: Layout,
    windows: Sequence[Window],
    keys: Sequence[str],
    services: Sequence[str],
    time: TimeLines | None = None,
) -> Query:
    """The query for `windows` (coalesced, non-empty) of `services` (none: all): the rows holding
    one of `keys`, and the lines `time` describes."""
    time = time or TimeLines()
    start = min(w.start for w in windows)
    end = max(w.end for w in windows)
    params = [
        Param("p_scan_start", "TIMESTAMP", start),
        Param("p_scan_end", "TIMESTAMP", end),
        Param("p_windows", _WINDOWS_TYPE, [(w.start, w.end) for w in windows]),
        Param("p_keys", "ARRAY<STRING>", search_keys(keys)),
        Param("p_services", "ARRAY<STRING>", sorted(set(services))),
    ]
    tests = _Tests(time, params)
    if layout.kind == "log-analytics":
        tables = [f"{layout.project}.{layout.dataset}.{ALL_LOGS}"]
        selects = [_analytics_select(tables[0], tests)]
    else:
        chosen = _sink_tables(layout, start, end)
        tables = [f"{layout.project}.{layout.dataset}.{t.name}" for t in chosen]
        selects = [
            _sink_select(name, table, tests) for name, table in zip(tables, chosen, strict=True)
        ]
    if not selects:
        selects = [_nothing()]
    sql = "\nUNION ALL\n".join(selects) + "\nORDER BY timestamp, insert_id"
    return Query(sql=sql, params=tuple(params), tables=tuple(tables))


class _Tests:
    """The time-only condition of `TimeLines`, its values added to the query's parameters."""

    def __init__(self, time: TimeLines, params: list[Param]) -> None:
        self.any_line = time.tests is None
        self.tests = () if time.tests is None else tuple(dict.fromkeys(time.tests))
        self.bands = time.bands if (self.any_line or self.tests) else ()
        self.params = params
        if not self.bands:
            return
        params.append(Param("p_bands", _WINDOWS_TYPE, [(b.start, b.end) for b in self.bands]))
        if any(t.kinds for t in self.tests):
            params += [Param(f"p_kind_{k}", "STRING", rx) for k, rx in KIND_PATTERNS]
        if any(t.terms for t in self.tests):
            # colour codes are stripped from a message (and may split a term): as text, as JSON
            params += [Param("p_esc", "STRING", "\x1b"), Param("p_esc_json", "STRING", "\\u001b")]
        for n, test in enumerate(self.tests):
            if test.kinds:
                params.append(Param(f"p_t{n}_kinds", "ARRAY<STRING>", sorted(test.kinds)))
            if test.severities:
                params.append(Param(f"p_t{n}_severities", "ARRAY<STRING>", sorted(test.severities)))
            if test.statuses:
                codes = sorted(test.statuses)
                params.append(Param(f"p_t{n}_statuses", "ARRAY<INT64>", codes))
                if test.status_in_text:
                    params.append(Param(f"p_t{n}_codes", "ARRAY<STRING>", [str(c) for c in codes]))
            for m, terms in enumerate(test.terms or ()):
                params.append(Param(f"p_t{n}_terms{m}", "ARRAY<STRING>", sorted(terms)))

    def clause(self, c: dict[str, str]) -> str | None:
        """The condition on a row of columns `c` (SQL expressions), None when nothing is read
        without a key."""
        if not self.bands:
            return None
        band = (
            "EXISTS (SELECT 1 FROM UNNEST(@p_bands) AS b"
            " WHERE e.timestamp BETWEEN b.start_at AND b.end_at)"
        )
        if self.any_line:
            return band
        kind = (
            "CASE "
            + " ".join(
                f"WHEN REGEXP_CONTAINS({c['log_name']}, @p_kind_{k}) THEN '{k}'"
                for k, _ in KIND_PATTERNS
            )
            + " END"
        )
        payloads = f"IFNULL({c['text_payload']}, ''), ' ', IFNULL({c['json_payload']}, '')"
        text = f"LOWER(CONCAT({payloads}))"
        http = [c[n] for n in ("request_method", "request_url", "status", "user_agent")]
        unsearched = " OR ".join(
            [
                *(f"{h} IS NOT NULL" for h in http),
                f"{c['proto_payload']} IS NOT NULL",
                f"({c['text_payload']} IS NULL AND {c['json_payload']} IS NULL)",
                f"({c['json_payload']} IS NOT NULL"
                f" AND JSON_VALUE({c['json_payload']}, '$.message') IS NULL)",
                f"STRPOS({text}, @p_esc) > 0",
                f"STRPOS({text}, @p_esc_json) > 0",
            ]
        )
        ors = []
        for n, test in enumerate(self.tests):
            parts = []
            if test.kinds:
                parts.append(f"IFNULL({kind} IN UNNEST(@p_t{n}_kinds), TRUE)")
            if test.severities:
                severity = f"IFNULL(UPPER({c['severity']}), 'DEFAULT')"
                parts.append(f"{severity} IN UNNEST(@p_t{n}_severities)")
            if test.statuses:
                status = f"IFNULL({c['status']} IN UNNEST(@p_t{n}_statuses), FALSE)"
                if test.status_in_text:
                    status = (
                        f"({status} OR EXISTS (SELECT 1 FROM UNNEST(@p_t{n}_codes) AS s"
                        f" WHERE STRPOS({text}, s) > 0))"
                    )
                parts.append(status)
            if test.terms:
                found = [
                    f"NOT EXISTS (SELECT 1 FROM UNNEST(@p_t{n}_terms{m}) AS t"
                    f" WHERE STRPOS({text}, t) = 0)"
                    for m in range(len(test.terms))
                ]
                parts.append("(" + " OR ".join([unsearched, *found]) + ")")
            ors.append(" AND ".join(parts) if parts else "TRUE")
        if not ors:
            return None
        return f"({band}\n      AND (" + "\n        OR ".join(f"({o})" for o in ors) + "))"


def search_keys(keys: Sequence[str]) -> list[str]:
    """The keys as they may appear in a row's text: as given, lower case (traces), and as JSON
    writes them inside a payload (quotes and backslashes escaped)."""
    found: dict[str, None] = {}
    for key in keys:
        for form in (key, key.lower()):
            found[form] = None
            found[json.dumps(form, ensure_ascii=False)[1:-1]] = None
    return sorted(k for k in found if k)


def _sink_tables(layout: Layout, start: datetime, end: datetime) -> list[SinkTable]:
    """The sink tables to read: every log table, and of a sharded one only the window's days."""
    if layout.kind == "sink-partitioned":
        return [t for t in layout.tables if t.name in SINK_TABLES]
    days = set()
    day = start.astimezone(UTC).date()
    while day <= end.astimezone(UTC).date():
        days.add(f"{day:%Y%m%d}")
        day += timedelta(days=1)
    chosen = []
    for table in layout.tables:
        match = SHARD.match(table.name)
        if match and match["base"] in SINK_TABLES and match["day"] in days:
            chosen.append(table)
    return chosen


def _keyed(haystack: list[str]) -> str:
    text = ", ' ', ".join(f"IFNULL({part}, '')" for part in haystack)
    return f"EXISTS (SELECT 1 FROM UNNEST(@p_keys) AS k WHERE STRPOS(CONCAT({text}), k) > 0)"


_IN_WINDOWS = (
    "EXISTS (SELECT 1 FROM UNNEST(@p_windows) AS w"
    " WHERE e.timestamp BETWEEN w.start_at AND w.end_at)"
)


def _where(service: str, time: str | None, haystack: list[str]) -> str:
    return "\n".join(
        [
            "WHERE e.timestamp BETWEEN @p_scan_start AND @p_scan_end",
            "  AND e.resource.type = 'cloud_run_revision'",
            f"  AND (ARRAY_LENGTH(@p_services) = 0 OR {service} IN UNNEST(@p_services))",
            f"  AND {_IN_WINDOWS}",
            f"  AND ({_keyed(haystack)}",
            *([f"    OR {time}"] if time else []),
            "  )",
        ]
    )


def _analytics_select(table: str, tests: _Tests) -> str:
    columns = {
        "timestamp": "e.timestamp",
        "severity": "e.severity",
        "log_name": "e.log_name",
        "insert_id": "e.insert_id",
        "text_payload": "e.text_payload",
        "json_payload": "TO_JSON_STRING(e.json_payload)",
        "proto_payload": "TO_JSON_STRING(e.proto_payload)",
        "labels": "TO_JSON_STRING(e.labels)",
        "resource_labels": "TO_JSON_STRING(e.resource.labels)",
        "request_method": "e.http_request.request_method",
        "request_url": "e.http_request.request_url",
        "status": "e.http_request.status",
        "user_agent": "e.http_request.user_agent",
        "latency_seconds": "e.http_request.latency.seconds",
        "latency_nanos": "e.http_request.latency.nanos",
        "latency_text": "CAST(NULL AS STRING)",
        "trace": "e.trace",
        "span_id": "e.span_id",
    }
    haystack = [
        "e.text_payload",
        "TO_JSON_STRING(e.json_payload)",
        "TO_JSON_STRING(e.labels)",
        "e.trace",
        "e.http_request.request_url",
    ]
    service = "JSON_VALUE(e.resource.labels, '$.service_name')"
    return _select(columns, table) + "\n" + _where(service, tests.clause(columns), haystack)


def _sink_select(name: str, table: SinkTable, tests: _Tests) -> str:
    have = table.columns

    def column(path: str, kind: str = "STRING", wrap: str = "{}") -> str:
        return wrap.format(f"e.{path}") if path in have else f"CAST(NULL AS {kind})"

    columns = {
        "timestamp": "e.timestamp",
        "severity": column("severity"),
        "log_name": column("logName"),
        "insert_id": column("insertId"),
        "text_payload": column("textPayload"),
        "json_payload": column("jsonPayload", wrap="TO_JSON_STRING({})"),
        "proto_payload": "CAST(NULL AS STRING)",
        "labels": column("labels", wrap="TO_JSON_STRING({})"),
        "resource_labels": column("resource.labels", wrap="TO_JSON_STRING({})"),
        "request_method": column("httpRequest.requestMethod"),
        "request_url": column("httpRequest.requestUrl"),
        "status": column("httpRequest.status", "INT64"),
        "user_agent": column("httpRequest.userAgent"),
        "latency_seconds": "CAST(NULL AS INT64)",
        "latency_nanos": "CAST(NULL AS INT64)",
        "latency_text": column("httpRequest.latency", wrap="CAST({} AS STRING)"),
        "trace": column("trace"),
        "span_id": column("spanId"),
    }
    haystack = [
        columns[c] for c in ("text_payload", "json_payload", "labels", "trace", "request_url")
    ]
    service = column("resource.labels.service_name")
    return _select(columns, name) + "\n" + _where(service, tests.clause(columns), haystack)


def _select(columns: dict[str, str], table: str) -> str:
    listed = ",\n".join(f"  {columns[c]} AS {c}" for c in COLUMNS)
    return f"SELECT\n{listed}\nFROM `{table}` AS e"


def _nothing() -> str:
    """No table holds the windows' days: a query of the right columns and no row."""
    kinds = {"timestamp": "TIMESTAMP", "status": "INT64"}
    kinds |= {"latency_seconds": "INT64", "latency_nanos": "INT64"}
    listed = ", ".join(f"CAST(NULL AS {kinds.get(c, 'STRING')}) AS {c}" for c in COLUMNS)
    return f"SELECT {listed}\nFROM UNNEST(@p_windows) AS w\nWHERE FALSE"


# -- literals for the console ------------------------------------------------------------------


def literal(value: Any, kind: str) -> str:
    """`value` of BigQuery type `kind` as a Standard SQL literal, quoted and escaped."""
    if kind == "TIMESTAMP":
        return f"TIMESTAMP '{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}+00'"
    if kind == "STRING":
        return string_literal(value)
    if kind == "ARRAY<STRING>":
        return "[" + ", ".join(string_literal(v) for v in value) + "]"
    if kind == "ARRAY<INT64>":
        return "[" + ", ".join(str(int(v)) for v in value) + "]"
    if kind == _WINDOWS_TYPE:
        structs = [
            f"STRUCT({literal(s, 'TIMESTAMP')} AS start_at, {literal(e, 'TIMESTAMP')} AS end_at)"
            for s, e in value
        ]
        return "[" + ", ".join(structs) + "]"
    raise ValueError(f"no literal for {kind}")


def string_literal(text: str) -> str:
    """A single-quoted string literal: backslash, quote and every control character escaped."""
    out = []
    for char in text:
        if char in "\\'":
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 or char in "\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "'" + "".join(out) + "'"
