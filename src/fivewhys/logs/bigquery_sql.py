"""The one SQL query a BigQuery analysis sends: the failure windows as a table of ranges, the
failures' keys, and only the columns the LogFrame is built from.

Two layouts of the same LogEntries are read (their schemas: `tests/fake_bigquery.py` names the
documentation each follows):

- the linked dataset of a Log Analytics bucket: view `_AllLogs`, snake_case columns, payloads
  and labels as JSON;
- the tables of a classic log sink: one per log (`run_googleapis_com_requests`, `_stdout`,
  `_stderr`, `_varlog_system`), camelCase columns and RECORD payloads, date-sharded
  (`<table>_YYYYMMDD`) or partitioned on `timestamp`.

A row comes back when it lies in a failure window and either holds one of the failures' keys
(connection id, user id, trace) anywhere in its text, payload, labels, trace or URL, or is a line
a time-joining rule can read without a key: a request log that is not a plain success (status
missing or 300 and above: the redirect rule joins a 3xx by time), the platform's system log, a
line at ERROR or above. Every value is a query parameter; the constant
outer time range on `timestamp` lets BigQuery prune partitions (and picks the shards).
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
#: severities a time-only candidate may have without being a request or system line
SEVERE = ("ERROR", "CRITICAL", "ALERT", "EMERGENCY")
#: the lowest status of a request log read without a key: 1xx and 2xx are plain successes
NOT_PLAIN = 300
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
    layout: Layout, windows: Sequence[Window], keys: Sequence[str], services: Sequence[str]
) -> Query:
    """The one query for `windows` (coalesced, non-empty) of `services` (none: all)."""
    start = min(w.start for w in windows)
    end = max(w.end for w in windows)
    params = (
        Param("p_scan_start", "TIMESTAMP", start),
        Param("p_scan_end", "TIMESTAMP", end),
        Param("p_windows", _WINDOWS_TYPE, [(w.start, w.end) for w in windows]),
        Param("p_keys", "ARRAY<STRING>", search_keys(keys)),
        Param("p_services", "ARRAY<STRING>", sorted(set(services))),
    )
    if layout.kind == "log-analytics":
        tables = [f"{layout.project}.{layout.dataset}.{ALL_LOGS}"]
        selects = [_analytics_select(tables[0])]
    else:
        chosen = _sink_tables(layout, start, end)
        tables = [f"{layout.project}.{layout.dataset}.{t.name}" for t in chosen]
        selects = [_sink_select(name, table) for name, table in zip(tables, chosen, strict=True)]
    if not selects:
        selects = [_nothing()]
    sql = "\nUNION ALL\n".join(selects) + "\nORDER BY timestamp, insert_id"
    return Query(sql=sql, params=params, tables=tuple(tables))


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
_SEVERE = "e.severity IN (" + ", ".join(f"'{s}'" for s in SEVERE) + ")"


def _where(service: str, candidates: list[str], haystack: list[str]) -> str:
    return "\n".join(
        [
            "WHERE e.timestamp BETWEEN @p_scan_start AND @p_scan_end",
            "  AND e.resource.type = 'cloud_run_revision'",
            f"  AND (ARRAY_LENGTH(@p_services) = 0 OR {service} IN UNNEST(@p_services))",
            f"  AND {_IN_WINDOWS}",
            f"  AND ({_keyed(haystack)}",
            *(f"    OR {c}" for c in candidates),
            "  )",
        ]
    )


def _analytics_select(table: str) -> str:
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
    candidates = [
        "(e.log_id = 'run.googleapis.com/requests'"
        f" AND (e.http_request.status IS NULL OR e.http_request.status >= {NOT_PLAIN}))",
        "e.log_id = 'run.googleapis.com/varlog/system'",
        _SEVERE,
    ]
    service = "JSON_VALUE(e.resource.labels, '$.service_name')"
    return _select(columns, table) + "\n" + _where(service, candidates, haystack)


def _sink_select(name: str, table: SinkTable) -> str:
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
    kind = table.kind
    candidates = [_SEVERE] if "severity" in have else []
    if kind == "request":
        status = columns["status"]
        candidates.insert(0, f"({status} IS NULL OR {status} >= {NOT_PLAIN})")
    elif kind == "system":
        candidates.insert(0, "TRUE")
    service = column("resource.labels.service_name")
    return _select(columns, name) + "\n" + _where(service, candidates, haystack)


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
