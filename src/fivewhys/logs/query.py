"""Cloud Logging filters for failure windows, and how a user reruns them (gcloud, Logs Explorer).

Every clause is parenthesized: the filter language binds NOT, then OR, then AND, so an
unparenthesized `a OR b AND c` does not mean what it reads like. Every query names an explicit
timestamp range: without one, the client library silently adds "the last 24 hours".
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import quote

import polars as pl

from fivewhys.ids import NULLISH_IDS
from fivewhys.logs.entry import _ID_CONTAINERS, CONNECTION_KEYS, MESSAGE_KEYS, USER_KEYS
from fivewhys.model import LogQuery, Window

#: windows closer than this are read as one range: one query instead of two
COALESCE_GAP = timedelta(seconds=60)
#: the API rejects longer filters
MAX_FILTER_CHARS = 20_000
#: the most entries one `entries.list` page may hold
PAGE_SIZE = 1000
#: how far around an evidence line its Logs Explorer link looks (the query is its insertId)
_ENTRY_RANGE = timedelta(minutes=1)
_CONSOLE = "https://console.cloud.google.com/logs/query"


def coalesce(windows: Sequence[Window], gap: timedelta = COALESCE_GAP) -> list[Window]:
    """Overlapping or near windows merged, in time order."""
    merged: list[Window] = []
    for window in sorted(windows, key=lambda w: (w.start, w.end)):
        if merged and window.start - merged[-1].end <= gap:
            last = merged[-1]
            merged[-1] = Window(start=last.start, end=max(last.end, window.end))
        else:
            merged.append(window)
    return merged


def rfc3339(moment: datetime) -> str:
    """UTC with microseconds and a `Z`, as Cloud Logging filters compare timestamps."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def quote_value(value: str) -> str:
    """A string value of the query language: in double quotes, `\\` and `"` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_quote = quote_value


def terms_clause(alternatives: Sequence[frozenset[str]]) -> str:
    """Entries holding every term of one of `alternatives` (global search terms), or whose
    message is not verbatim text the terms could be found in (UNSEARCHED_MESSAGES)."""
    found = [
        "(" + " AND ".join(quote_value(term) for term in sorted(alternative)) + ")"
        for alternative in alternatives
    ]
    return "(" + " OR ".join([*found, UNSEARCHED_MESSAGES]) + ")"


def _unsearched() -> str:
    message = [f"jsonPayload.{key}" for key in MESSAGE_KEYS]
    escape = quote_value(r"\x1b")
    anything = quote_value(r"[\s\S]")
    parts = [
        "httpRequest:*",  # a request log's message may be its summary, built from its fields
        "protoPayload:*",  # an audit entry's is its method, resource and status joined
        "(NOT textPayload:* AND NOT jsonPayload:*)",
        # a payload without a string `message` reads as its compact JSON (or another key)
        f"(jsonPayload:* AND NOT jsonPayload.message=~{anything})",
        # colour codes are stripped from the message, and may split a term
        f"textPayload=~{escape}",
        *(f"{field}=~{escape}" for field in message),
    ]
    return "(" + " OR ".join(parts) + ")"


#: entries whose message `logs.entry` builds rather than reads verbatim from one text field
UNSEARCHED_MESSAGES = _unsearched()
#: which LogFrame id column each id kind of a failure fills
ID_KINDS = ("connection_id", "user_id", "trace")
_FIELD_KEYS = {"connection_id": CONNECTION_KEYS, "user_id": USER_KEYS}


def id_fields_clause(kinds: Sequence[str]) -> str | None:
    """Entries carrying an id of one of `kinds` in a structured field (`logs.entry` reads it
    there first: payload, its context/extra/labels, the entry's labels; `trace` for traces).

    Such a line is some failure's own (a keyed query reads it) or someone else's, and then it
    never joins by time a failure that has ids of that kind: a time query may leave it out.
    A value `logs.entry` would not take as an id (null-like, a boolean, a number, an object)
    does not count."""
    real = quote_value(r"^\s*[A-Za-z_]")
    nullish = "|".join(re.escape(v) for v in sorted({*NULLISH_IDS, "true", "false"}))
    placeholder = quote_value(r"(?i)^\s*(" + nullish + r")\s*$")
    trace = quote_value("(^|[^0-9a-fA-F])[0-9a-fA-F]{32}([^0-9a-fA-F]|$)")
    parts = []
    for kind in kinds:
        if kind == "trace":
            parts.append(f"trace=~{trace}")
            continue
        for container in ("jsonPayload", *(f"jsonPayload.{c}" for c in _ID_CONTAINERS), "labels"):
            for key in _FIELD_KEYS[kind]:
                field = f"{container}.{key}"
                parts.append(f"({field}=~{real} AND NOT {field}=~{placeholder})")
    return "(" + " OR ".join(parts) + ")" if parts else None


def _head(services: Sequence[str], severity: str | None) -> list[str]:
    """The clauses every query shares: resource type, services, severity."""
    clauses = ['(resource.type="cloud_run_revision")']
    if services:
        clauses.append(
            "("
            + " OR ".join(f"(resource.labels.service_name={_quote(s)})" for s in sorted(services))
            + ")"
        )
    if severity:
        clauses.append(f"(severity>={severity.upper()})")
    return clauses


def build_filter(
    windows: Sequence[Window], services: Sequence[str], severity: str | None = None
) -> str:
    """`resource.type` AND services AND (window OR window ...), each clause in parentheses."""
    clauses = _head(services, severity)
    if windows:
        ranges = [
            f'(timestamp>="{rfc3339(w.start)}" AND timestamp<="{rfc3339(w.end)}")'
            for w in coalesce(windows)
        ]
        clauses.append("(" + " OR ".join(ranges) + ")")
    return "\nAND ".join(clauses)


def ranges_clause(windows: Sequence[Window]) -> str:
    """`(range OR range ...)` of the windows as they are (not coalesced), each inclusive."""
    ranges = [
        f'(timestamp>="{rfc3339(w.start)}" AND timestamp<="{rfc3339(w.end)}")' for w in windows
    ]
    return "(" + " OR ".join(ranges) + ")"


def narrow_filter(
    windows: Sequence[Window], services: Sequence[str], severity: str | None, clause: str | None
) -> str:
    """The shared clauses, the windows' ranges and one more (parenthesized) clause, if any."""
    extra = [f"({clause})"] if clause else []
    return "\nAND ".join([*_head(services, severity), ranges_clause(windows), *extra])


def keyed_clauses(
    windows: Sequence[Window],
    services: Sequence[str],
    severity: str | None,
    ids: Sequence[str],
    limit: int = MAX_FILTER_CHARS,
) -> list[str]:
    """Clauses for the entries holding any of `ids` anywhere (global search terms, OR'ed), as
    few as keep each `narrow_filter` within `limit` characters. Raises ValueError when one id
    alone is too long."""
    base = len(narrow_filter(windows, services, severity, "()"))
    filters: list[str] = []
    terms: list[str] = []
    size = base
    for value in sorted(set(ids)):
        term = quote_value(value)
        grown = size + len(term) + (4 if terms else 0)
        if grown > limit:
            if not terms:
                raise ValueError(f"id too long for a filter: {value[:60]!r}")
            filters.append(" OR ".join(terms))
            terms, grown = [], base + len(term)
            if grown > limit:
                raise ValueError(f"id too long for a filter: {value[:60]!r}")
        terms.append(term)
        size = grown
    if terms:
        filters.append(" OR ".join(terms))
    return filters


def after_filter(moment: datetime, services: Sequence[str]) -> str:
    """Entries of the services at or after `moment`: readable ones mean ingestion has got there."""
    return "\nAND ".join([*_head(services, None), f'(timestamp>="{rfc3339(moment)}")'])


def service_groups(
    window: Window,
    services: Sequence[str],
    severity: str | None = None,
    limit: int = MAX_FILTER_CHARS,
) -> list[tuple[str, ...]]:
    """The services split into groups whose window filter stays within `limit` characters.

    One group (all services) unless the filter would be too long; then as few groups as a
    greedy fill in name order gives. Raises ValueError when one service alone is too long.
    """
    ordered = tuple(sorted(services))
    if len(build_filter([window], ordered, severity)) <= limit:
        return [ordered]
    groups: list[tuple[str, ...]] = []
    current: tuple[str, ...] = ()
    for service in ordered:
        candidate = (*current, service)
        if len(build_filter([window], candidate, severity)) <= limit:
            current = candidate
            continue
        if not current:
            raise ValueError(f"service name too long for a filter: {service[:60]!r}")
        groups.append(current)
        current = (service,)
        if len(build_filter([window], current, severity)) > limit:
            raise ValueError(f"service name too long for a filter: {service[:60]!r}")
    groups.append(current)
    return groups


def window_queries(
    window: Window,
    services: Sequence[str],
    project: str | None,
    severity: str | None = None,
    limit: int = MAX_FILTER_CHARS,
) -> tuple[LogQuery, ...]:
    """The queries that read one window (more than one when the filter had to be split)."""
    groups = service_groups(window, services, severity, limit) if services else [()]
    queries = []
    for group in groups:
        text = build_filter([window], group, severity)
        queries.append(
            LogQuery(
                filter=text,
                gcloud_command=gcloud_command(text, project),
                explorer_link=explorer_query_link(project, text, window.start, window.end),
            )
        )
    return tuple(queries)


def gcloud_command(log_filter: str, project: str | None) -> str:
    """The `gcloud logging read` command that reads the same entries, oldest first."""
    parts = ["gcloud", "logging", "read", log_filter]
    if project:
        parts.append(f"--project={project}")
    parts += ["--format=json", "--order=asc"]
    return " ".join(shlex.quote(p) for p in parts)


def explorer_query_link(
    project: str | None, log_filter: str, start: datetime, end: datetime
) -> str | None:
    """A Logs Explorer URL running `log_filter` over [start, end] (None without a project)."""
    if not project:
        return None
    return (
        f"{_CONSOLE};query={quote(log_filter, safe='')}"
        f";startTime={rfc3339(start)};endTime={rfc3339(end)}?project={quote(project, safe='')}"
    )


def explorer_links(project: str | None, insert_ids: pl.Series, moments: pl.Series) -> pl.Series:
    """Logs Explorer URLs that each open one entry (nulls when the project is unknown).

    The time range is explicit: the console otherwise searches only the last hour. Built as one
    column expression because a report links every candidate line (200k at a million lines);
    each distinct id is URL-quoted once.
    """
    if not project:
        return pl.Series("link", [None] * len(insert_ids), dtype=pl.String)
    # ids of letters, digits and _.-~ need no quoting (all Cloud Logging writes); others do
    plain = insert_ids.str.contains(r"^[A-Za-z0-9_.~-]*$")
    odd = insert_ids.filter(~plain).unique().to_list()
    quoted = {i: quote(f"insertId={_quote(i)}", safe="") for i in odd}
    stamp = "%Y-%m-%dT%H:%M:%S%.6fZ"
    frame = pl.DataFrame({"insert_id": insert_ids, "moment": moments, "plain": plain})
    moment, insert_id = pl.col("moment"), pl.col("insert_id")
    query = (
        pl.when("plain")
        .then(pl.concat_str(pl.lit("insertId%3D%22"), insert_id, pl.lit("%22")))
        .otherwise(insert_id.replace_strict(quoted, default=None, return_dtype=pl.String))
    )
    return frame.select(
        link=pl.concat_str(
            pl.lit(f"{_CONSOLE};query="),
            query,
            pl.lit(";cursorTimestamp="),
            moment.dt.strftime(stamp),
            pl.lit(";startTime="),
            (moment - _ENTRY_RANGE).dt.strftime(stamp),
            pl.lit(";endTime="),
            (moment + _ENTRY_RANGE).dt.strftime(stamp),
            pl.lit(f"?project={quote(project, safe='')}"),
        )
    ).to_series()
