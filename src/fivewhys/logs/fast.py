"""NDJSON of Cloud Logging entries into LogFrame rows in one vectorized pass (polars).

`entry.py` normalizes one entry at a time in Python (about 200 µs each). This module scans the
file once with polars, reading only the fields normalization consults, and applies the same
rules as column expressions; ids in message text are looked for once per distinct message.
A row whose fields show a shape these rules leave to `entry.py` -- no logName (re-serializations),
an offset or protobuf timestamp, a numeric severity, a payload without a string message, a value
whose JSON type polars blurs into a string, text on which the two regex engines could disagree --
is re-read from its line and normalized by `entry.py`. So every row is the row the per-entry
path builds, but for what polars cannot see: a null field reads as a missing one, a number as
its decimal text (403 and "403", 1.0 and 1 read alike), and a payload container given as a
string of JSON as the object; so a vectorized row is never counted under "null fields ignored"
or "httpRequest.status as a string".

When polars cannot read the file at all (a broken line, a BOM, an object where a string was
expected), `read_ndjson` returns False and the caller reads the file entry by entry.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import polars as pl

from fivewhys.ids import ENGINE_SENSITIVE, NULLISH_IDS, IdPatterns, polars_id_patterns
from fivewhys.logs import entry as per_entry
from fivewhys.logs.entry import BUILD_SCHEMA, LogBatch, all_distinct, normalize_entries

_S = pl.String()
_ID_NAMES = tuple(dict.fromkeys(per_entry.CONNECTION_KEYS + per_entry.USER_KEYS))
_EXC = per_entry.EXC_KEYS
_INSTANCE_KEYS = ("instanceId", "run.googleapis.com/instanceId", "instance_id")
_HTTP_KEYS = ("requestMethod", "requestUrl", "status", "latency", "userAgent")
#: httpRequest spellings of re-serializations (counted in `mapped` by the per-entry path)
_HTTP_ALT_KEYS = ("request_method", "method", "request_url", "url", "user_agent")
_TRACE_KEY = "logging.googleapis.com/trace"
_SPAN_KEY = "logging.googleapis.com/spanId"
#: jsonPayload objects holding ids or tracebacks, read as JSON text (cheap when absent) and
#: decoded where present: name -> the fields read from them
_CONTAINERS: dict[str, tuple[str, ...]] = {
    "context": (*_ID_NAMES, *_EXC),
    "extra": _ID_NAMES,
    "labels": _ID_NAMES,
    "error": _EXC,
}
#: where `entry._field_id` looks for ids, in its order ("l:" are the entry's labels)
_ID_PLACES = ("p:", "p:context:", "p:extra:", "p:labels:", "l:")
_PAYLOAD_KEYS = ("message", *_ID_NAMES, *_EXC, _TRACE_KEY, _SPAN_KEY)
_ID_COLUMNS = tuple(f"{place}{name}" for place in _ID_PLACES for name in _ID_NAMES)
#: columns the rules name directly, kept when no line has them
_ALWAYS = frozenset(
    ("timestamp", "severity", "logName", "insertId", "textPayload", "trace", "spanId", "line")
) | {"_payload", "_http", "_labels", "_undecoded"}
_EXCEPTION_COLUMNS = tuple(
    f"{where}{key}" for where in ("p:", "p:context:", "p:error:") for key in _EXC
)


def _strings(*names: str) -> pl.Struct:
    return pl.Struct(dict.fromkeys(names, _S))


#: what the scan reads. Entry labels and payload containers are read as JSON text: a struct of
#: all the keys they may hold would cost more than the decoding of the few that are there.
SCHEMA: dict[str, pl.DataType] = {
    **dict.fromkeys(
        ("insertId", "timestamp", "severity", "logName", "trace", "spanId", "textPayload"), _S
    ),
    "protoPayload": _S,
    "raw_payload": _S,
    "resource": pl.Struct({"labels": _strings("project_id", "revision_name", "service_name")}),
    "labels": _S,
    "httpRequest": _strings(*_HTTP_KEYS, *_HTTP_ALT_KEYS),
    "jsonPayload": pl.Struct(
        {**dict.fromkeys(_PAYLOAD_KEYS, _S), **dict.fromkeys(_CONTAINERS, _S)}
    ),
}

#: RFC 3339 in UTC as Cloud Logging writes it; other forms are parsed by `entry.py`
_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?Z$"
#: strings polars may have made of a JSON number, boolean, object or array (polars writes
#: numbers in plain decimal, so a string with an exponent was a string)
_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?"
_OBJECT = r"\{.*\}|\[.*\]"
_NOT_A_STRING = rf"true|false|{_NUMBER}|{_OBJECT}"
#: the same, for fields where an integer reads as its digits either way (ids, messages)
_NOT_TEXT_OR_INT = rf"true|false|-?(?:0|[1-9][0-9]*)\.[0-9]+|{_OBJECT}"
#: urlsplit's path, for URLs it splits without surprises (no brackets, spaces or non-ASCII):
#: what is left without the scheme and netloc, up to a query or fragment
_URL_HEAD = r"^(?:[A-Za-z][A-Za-z0-9+.-]*:)?(?://[^/?#]*)?"
_URL_TAIL = r"(?s)[?#].*"
_URL_ODD = r"[\[\]\x00-\x20\x7f-\x{10FFFF}]"
_LATENCY = r"^[0-9]+(?:\.[0-9]+)?s?$"
_ANSI = r"\x1b\[[0-9;?]*[ -/]*[@-~]"
#: is_real_id's placeholders, as one case-blind regex (one pass, no lowercased copy)
_NULLISH = "(?i)^(?:" + "|".join(sorted(re.escape(v) for v in NULLISH_IDS)) + ")$"
#: normalize_trace: 32 hex digits not inside a longer hex run
_TRACE_ID = r"(?:^|[^0-9a-fA-F])([0-9a-fA-F]{32})(?:[^0-9a-fA-F]|$)"


class _Unreadable(Exception):
    """The file needs the per-entry path after all."""


def read_ndjson(path: str, batch: LogBatch, id_patterns: IdPatterns) -> bool:
    """Rows of the NDJSON file `path` into `batch`, vectorized; False (`batch` untouched) when
    polars cannot read the file, which the per-entry path then reads."""
    try:
        scanned = pl.read_ndjson(path, schema=SCHEMA)
        frame = _flatten(scanned, _line_numbers(path, scanned.height))
        del scanned  # the flat frame holds copies: the scan's chunks can go
        rows, odd, mapped = _normalize(frame, path, id_patterns)
        del frame
        entries = _reread(path, odd)
    except (pl.exceptions.PolarsError, OSError, _Unreadable):
        return False
    batch.mapped.update(mapped)
    if entries:
        normalize_entries(entries, id_patterns=id_patterns, batch=batch)
        batch.flush()
        line = pl.col("source").str.extract(r":([0-9]+)$").cast(pl.Int64)
        redone = [chunk.with_columns(line=line) for chunk in batch.chunks]
        batch.chunks.clear()
        rows = pl.concat([rows, *redone], how="vertical")
    # rows in time order, so that `build_frame` finds one file's rows sorted; a batch's rows go
    # in reading order only where an insertId repeats, for its first row read to be kept
    if all_distinct(rows.get_column("insert_id")):
        rows = rows.sort("timestamp", "insert_id")
    else:
        rows = rows.sort("line")
    batch.chunks.append(rows.drop("line"))
    return True


def _line_numbers(path: str, rows: int) -> pl.Series:
    """The line of every scanned row (polars skips blank lines: find them when there are)."""
    lines = (
        pl.scan_csv(path, has_header=False, separator="\x1f", quote_char=None, schema={"l": _S})
        .select(pl.len())
        .collect()
        .item()
    )
    if rows == lines:
        return pl.int_range(1, rows + 1, eager=True, dtype=pl.Int64)
    with open(path, "rb") as handle:
        found = [number for number, line in enumerate(handle, 1) if line.strip()]
    if len(found) != rows:
        raise _Unreadable(path)
    return pl.Series(found, dtype=pl.Int64)


def _reread(path: str, wanted: list[int]) -> list[tuple[str, Any]]:
    """`(source, entry)` of the given lines (ascending), as `files._ndjson` yields them."""
    found: list[tuple[str, Any]] = []
    if not wanted:
        return found
    targets = iter(wanted)
    target = next(targets)
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if number != target:
                continue
            try:
                found.append((f"{path}:{number}", json.loads(raw)))
            except ValueError as exc:  # polars read what Python will not
                raise _Unreadable(path) from exc
            target = next(targets, 0)
            if not target:
                break
    return found


def _flatten(scanned: pl.DataFrame, lines: pl.Series) -> pl.DataFrame:
    """One column per field read, named `p:` (payload), `h:` (httpRequest), `l:` (labels)."""
    # Series-level unnesting shares the field buffers (struct.field expressions copy them)
    payload = scanned.get_column("jsonPayload")
    http = scanned.get_column("httpRequest")
    labels = scanned.get_column("labels")
    resource = scanned.get_column("resource").struct.field("labels").struct.unnest()
    frame = pl.concat(
        [
            scanned.drop("jsonPayload", "httpRequest", "resource", "labels"),
            payload.struct.unnest().select(pl.all().name.prefix("p:")),
            http.struct.unnest().select(pl.all().name.prefix("h:")),
            resource,
            pl.DataFrame(
                [
                    payload.is_not_null().alias("_payload"),
                    http.is_not_null().alias("_http"),
                    labels.alias("_labels"),
                    lines.alias("line"),
                    pl.repeat(False, scanned.height, eager=True).alias("_undecoded"),
                ]
            ),
        ],
        how="horizontal",
    )
    # fields no line has are dropped (their rules read a null literal, see _Columns); the rest
    # made one chunk each: the scan leaves a chunk per few hundred rows, each paid for by every
    # expression
    empty = [
        name
        for name, nulls in frame.null_count().row(0, named=True).items()
        if nulls == frame.height and name not in _ALWAYS
    ]
    frame = frame.drop(empty).rechunk()
    for name, fields in _CONTAINERS.items():
        if f"p:{name}" in frame.columns:
            where = frame.get_column(f"p:{name}").is_not_null()
            frame = _decode(frame, f"p:{name}", f"p:{name}:", fields, where)
    # the usual labels are {"instanceId": "..."}: sliced out; anything else is decoded
    labels = frame.get_column("_labels")
    value = labels.str.strip_prefix('{"instanceId": "').str.strip_suffix('"}')
    plain = (
        labels.str.starts_with('{"instanceId": "')
        & labels.str.ends_with('"}')
        & ~value.str.contains(r'["\\]')
    ).fill_null(False)
    frame = frame.with_columns(pl.when(plain).then(value).alias("l:instanceId"))
    other = ~plain & labels.is_not_null() & (labels != "{}")
    return _decode(frame, "_labels", "l:", (*_INSTANCE_KEYS, *_ID_NAMES), other)


def _decode(
    frame: pl.DataFrame, column: str, prefix: str, fields: tuple[str, ...], where: pl.Series
) -> pl.DataFrame:
    """The JSON objects in `column` (rows `where`) as `prefix`-named columns of `fields`; a row
    whose text is not an object polars can decode is left to `entry.py` (`_undecoded`)."""
    if not where.any():
        return frame
    text = frame.get_column(column).filter(where)
    is_object = text.str.starts_with("{")
    try:
        decoded = text.filter(is_object).str.json_decode(_strings(*fields))
    except pl.exceptions.PolarsError:
        return frame.with_columns(_undecoded=pl.col("_undecoded") | pl.Series(where))
    index = where.arg_true().filter(is_object)
    height = frame.height
    columns = []
    for field in fields:
        name = f"{prefix}{field}"
        if name in frame.columns:
            base = frame.get_column(name)
        else:
            base = pl.repeat(None, height, dtype=_S, eager=True).alias(name)
        columns.append(base.scatter(index, decoded.struct.field(field)))
    return frame.with_columns(columns)


def _present(frame: pl.DataFrame) -> set[str]:
    counts = frame.null_count().row(0, named=True)
    return {name for name, nulls in counts.items() if nulls < frame.height}


class _Columns:
    """Field columns by name; a field no row holds is a null literal, so its rules cost nothing."""

    def __init__(self, present: set[str]) -> None:
        self.present = present

    def __call__(self, name: str) -> pl.Expr:
        return pl.col(name) if name in self.present else pl.lit(None, dtype=_S)

    def any(self, *names: str) -> list[pl.Expr]:
        return [pl.col(name) for name in self.present_of(*names)]

    def present_of(self, *names: str) -> list[str]:
        return [name for name in names if name in self.present]


def _nonempty(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr != "").then(expr)


def _blurred(value: pl.Expr, pattern: str) -> pl.Expr:
    """True where the string may stand for another JSON type (see `_NOT_A_STRING`)."""
    return value.str.contains(rf"(?s)^(?:{pattern})$")


def _normalize(
    frame: pl.DataFrame, path: str, id_patterns: IdPatterns
) -> tuple[pl.DataFrame, list[int], Counter[str]]:
    """The vectorized rows (BUILD_SCHEMA plus `line`) sorted by (timestamp, insert_id), the
    lines left to `entry.py`, and the shapes mapped in the vectorized rows.

    The rules are one lazy query, collected once: polars runs its expressions side by side,
    computes what they share once, and keeps no intermediate frame. What depends on the values
    (the few distinct ones checked in Python, the rare rows a costly regex needs) is found first
    or fixed after."""
    col = _Columns(_present(frame))
    query = frame.lazy().with_columns(_odd=_odd_shape(frame, col), **_fields(col))
    url_path = pl.lit(None, dtype=_S)
    if "h:requestUrl" in col.present:
        url_path = _per_value(frame, "h:requestUrl", _url_path)
    query = _http_columns(query, _latency_ties(frame, col), url_path)
    # text on which Python's and polars' regexes could disagree goes to entry.py as well
    odd_row = (
        pl.col("_odd") | pl.col("message").str.contains(ENGINE_SENSITIVE) | pl.col("_ts").is_null()
    )
    query = _kinds(query.with_columns(_odd=odd_row.fill_null(True)), frame)
    query = _field_ids(query, frame, col)
    computed = {
        "service": _nonempty(col("service_name")),
        "revision": _nonempty(col("revision_name")),
        "instance_id": pl.coalesce([_nonempty(col(f"l:{k}")) for k in _INSTANCE_KEYS]),
        "insert_id": pl.col("insertId"),
        "source": pl.concat_str([pl.lit(f"{path}:"), pl.col("line").cast(pl.String)]),
        "template": pl.lit(None, dtype=_S),
        "raw": _raw(frame, col),
    }
    columns = [
        computed.get(name, pl.col(name)).cast(dtype).alias(name)
        for name, dtype in BUILD_SCHEMA.items()
    ]
    helpers = ["line", "_odd", "_searchable", "_raw_trace", "_plain_trace", *_MAPPED.values()]
    sorted_rows = query.select(*columns, *helpers).sort("timestamp", "insert_id")
    rows = sorted_rows.collect(engine="in-memory")
    regular = ~rows.get_column("_odd")
    flags = rows.select(pl.col(_MAPPED.values()).filter(regular).sum()).row(0)
    mapped = Counter({reason: count for reason, count in zip(_MAPPED, flags, strict=True) if count})
    odd = sorted(rows.get_column("line").filter(~regular).to_list())
    if odd:
        rows = rows.filter(regular)
    rows = _text_ids_of(_other_traces(rows), id_patterns)
    return rows.drop(helpers[1:]), odd, mapped


#: `mapped` reasons the vectorized rows can show -> the flag column counting them
_MAPPED = {
    "no severity (DEFAULT)": "_no_severity",
    "ANSI colour codes stripped": "_ansi",
    "access-log text (http_method/path/status parsed)": "_is_access",
    "'connection rejected (NNN ...)' text (http_status parsed)": "_is_rejected",
}


def _exception_values(col: _Columns) -> list[pl.Expr]:
    return col.any(*_EXCEPTION_COLUMNS)


def _odd_shape(frame: pl.DataFrame, col: _Columns) -> pl.Expr:
    """True for a row `entry.py` must build (see the module docstring)."""
    stamp = pl.col("timestamp")
    insert_id = pl.col("insertId")
    text = pl.col("textPayload")
    has_text = text.is_not_null() & (text != "")
    checks = [
        pl.col("_undecoded"),
        ~stamp.str.contains(_TIMESTAMP) | stamp.str.starts_with("0000"),
        pl.col("logName").is_null(),
        insert_id.is_null() | (insert_id == "") | _blurred(insert_id, _NOT_TEXT_OR_INT),
        col("spanId") == "0",
        # values `entry.py` turns into text with str() (the same digits for integers only),
        # and values it reads only when they are strings
        *(_blurred(value, _NOT_TEXT_OR_INT) for value in col.any("p:message", "spanId")),
        *(_blurred(value, _NOT_TEXT_OR_INT) for value in col.any(*_ID_COLUMNS)),
        *(_blurred(value, _NOT_A_STRING) for value in col.any("textPayload", "trace")),
        ~col("h:latency").str.contains(_LATENCY),
        # a payload without a message (msg, text, or its JSON is the message)
        ~has_text & pl.col("_payload") & _nonempty(col("p:message")).is_null(),
        ~has_text
        & ~pl.col("_payload")
        & (col("protoPayload").is_not_null() | col("raw_payload").is_not_null()),
        # httpRequest: none of the fields read, or re-serialized keys
        pl.col("_http") & pl.all_horizontal([col(f"h:{k}").is_null() for k in _HTTP_KEYS]),
        *(value.is_not_null() for value in col.any(*(f"h:{k}" for k in _HTTP_ALT_KEYS))),
    ]
    # fields with few distinct values: checked once per value
    text_or_int = [*(f"l:{k}" for k in _INSTANCE_KEYS), "h:requestMethod", "h:userAgent"]
    text_or_int += ["project_id", "revision_name", "service_name"]
    value_checks: dict[str, pl.Expr] = {
        name: _blurred(pl.col(name), _NOT_TEXT_OR_INT) for name in text_or_int
    }
    strings = ["h:requestUrl", f"p:{_TRACE_KEY}", f"p:{_SPAN_KEY}", *_EXCEPTION_COLUMNS]
    value_checks |= {name: _blurred(pl.col(name), _NOT_A_STRING) for name in strings}
    value_checks["logName"] = (pl.col("logName") == "") | _blurred(pl.col("logName"), _NOT_A_STRING)
    value_checks["h:requestUrl"] |= pl.col("h:requestUrl").str.contains(_URL_ODD)
    # an httpRequest.status of digits with spaces around them (a handful of values)
    status = pl.col("h:status")
    value_checks["h:status"] = ~status.str.contains(r"^[0-9]+$") & status.str.contains(
        r"^\s*\d+\s*$"
    )
    # severity: names only (numbers and booleans look alike once read as strings)
    value_checks["severity"] = (pl.col("severity") != "") & (
        ~pl.col("severity").str.contains(r"^[A-Za-z]+$")
        | pl.col("severity").is_in(["true", "false"])
    )
    for name, check in value_checks.items():
        if name in col.present:
            values = frame.select(pl.col(name).drop_nulls().unique())
            bad = values.filter(check.fill_null(False)).get_column(name)
            if bad.len():
                checks.append(pl.col(name).is_in(bad.to_list()))
    return pl.any_horizontal([check.fill_null(False) for check in checks])


def _fields(col: _Columns) -> dict[str, pl.Expr]:
    """Timestamp, severity and message of regular rows, and their raw HTTP fields."""
    stamp = pl.col("timestamp")
    # the seconds repeat (a million lines span an hour): parsed once each, through the cache;
    # the fraction truncated to microseconds, as entry._timestamp_us does
    seconds = stamp.str.slice(0, 19).str.strptime(
        pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S", strict=False, cache=True
    )
    fraction = (stamp.str.slice(20).str.strip_suffix("Z") + "00000").str.slice(0, 6)
    severity = pl.col("severity")
    no_severity = severity.is_null() | (severity == "")
    payload_message = _nonempty(col("p:message"))
    excs = [
        pl.when(value.str.strip_chars() != "").then(value.str.strip_chars_end())
        for value in _exception_values(col)
    ]
    if excs:
        exc = pl.coalesce(excs)
        payload_message = (
            pl.when(exc.is_not_null() & ~payload_message.str.contains(exc, literal=True))
            .then(pl.concat_str([payload_message, exc], separator="\n"))
            .otherwise(payload_message)
        )
    text = pl.col("textPayload")
    message = (
        pl.when(text.is_not_null() & (text != ""))
        .then(text.str.strip_chars_end("\r\n"))
        .when(pl.col("_payload"))
        .then(payload_message)
        .otherwise(pl.lit(""))
    )
    return {
        "_ts": seconds.dt.epoch("us") + fraction.cast(pl.Int64, strict=False),
        "_no_severity": no_severity,
        "severity": pl.when(no_severity)
        .then(pl.lit("DEFAULT"))
        .otherwise(severity.str.to_uppercase()),
        "message": message,
        "_method": _nonempty(col("h:requestMethod")),
        "_url": _nonempty(col("h:requestUrl")),
        "_status": col("h:status").cast(pl.Int64, strict=False),
        "_latency": col("h:latency").str.strip_suffix("s").cast(pl.Float64, strict=False),
        "_agent": _nonempty(col("h:userAgent")),
    }


def _http_columns(query: pl.LazyFrame, ties: dict[float, str], path: pl.Expr) -> pl.LazyFrame:
    """ANSI codes out of messages; HTTP fields from httpRequest or from an access line in the
    message; the summary message of a request log without a payload (entry._summary). Each
    regex runs over the whole column: cheap beside a pass that picks the rows needing it."""
    message = pl.col("message")
    query = query.with_columns(_ansi=message.str.contains("\x1b", literal=True))
    query = query.with_columns(
        message=pl.when(pl.col("_ansi")).then(message.str.replace_all(_ANSI, "")).otherwise(message)
    )
    http = pl.col("_http")
    head = message.str.slice(0, 512)
    text_line = ~http & (message != "")
    access = text_line & message.str.contains('" ', literal=True)
    groups = head.str.extract_groups(per_entry.ACCESS_LINE.pattern)
    rejected = text_line & message.str.contains("connection rejected (", literal=True)
    query = query.with_columns(
        **{f"_access{n}": pl.when(access).then(groups.struct.field(n)) for n in "123"},
        _rejected=pl.when(rejected).then(head.str.extract(per_entry.REJECTED.pattern, 1)),
        _path=pl.when(http & pl.col("_url").is_not_null()).then(path),
    )
    is_access = pl.col("_access1").is_not_null()
    query = query.with_columns(
        _is_access=is_access, _is_rejected=~is_access & pl.col("_rejected").is_not_null()
    )
    status = pl.col("_status")
    latency = pl.col("_latency")
    sane_latency = (latency >= 0.0) & (latency <= per_entry.MAX_LATENCY_S)
    query = query.with_columns(
        http_method=pl.when(http).then(pl.col("_method")).otherwise(pl.col("_access1")),
        http_path=pl.when(http).then(pl.col("_path")).otherwise(pl.col("_access2")),
        http_status=pl.when(http)
        .then(pl.when((status > 0) & (status < 1000)).then(status))
        .when(pl.col("_is_access"))
        .then(pl.col("_access3").cast(pl.Int64, strict=False))
        .when(pl.col("_is_rejected"))
        .then(pl.col("_rejected").cast(pl.Int64, strict=False)),
        http_latency_s=pl.when(http & sane_latency).then(latency),
        user_agent=pl.when(http).then(pl.col("_agent")),
        _summary=http & (message == ""),
    )
    summary = pl.concat_str(
        [
            pl.col("http_method"),
            pl.col("http_path"),
            pl.col("http_status").cast(pl.String),
            _latency_text(pl.col("http_latency_s"), ties),
            pl.col("user_agent"),
        ],
        separator=" ",
        ignore_nulls=True,
    )
    is_summary = pl.col("_summary")
    return query.with_columns(
        message=pl.when(is_summary).then(summary).otherwise(message),
        _searchable=pl.when(is_summary).then(pl.lit("")).otherwise(message),
    )


def _near_tie(seconds: pl.Expr) -> pl.Expr:
    millis = seconds * 1000
    return (((millis - millis.floor()) - 0.5).abs() < 1e-6).fill_null(False)


def _latency_ties(frame: pl.DataFrame, col: _Columns) -> dict[float, str]:
    """f"{latency:.3f}s" of the latencies a product by 1000 may round across .5 (see
    `_latency_text`), found in the raw field before the query."""
    if "h:latency" not in col.present:
        return {}
    latency = col("h:latency").str.strip_suffix("s").cast(pl.Float64, strict=False)
    ties = frame.select(latency.filter(_near_tie(latency)).unique()).to_series().to_list()
    return {value: f"{value:.3f}s" for value in ties}


def _latency_text(seconds: pl.Expr, ties: dict[float, str]) -> pl.Expr:
    """f"{latency:.3f}s", in integer thousandths, or by Python near ties (Python rounds the
    exact binary value, which a product by 1000 may carry across .5)."""
    rounded = (seconds * 1000).round(0).cast(pl.Int64)
    text = pl.concat_str(
        [
            (rounded // 1000).cast(pl.String),
            pl.lit("."),
            (rounded % 1000).cast(pl.String).str.zfill(3),
            pl.lit("s"),
        ]
    )
    if not ties:
        return text
    exact = seconds.replace_strict(ties, default=None, return_dtype=pl.String)
    return pl.when(_near_tie(seconds)).then(exact).otherwise(text)


def _kinds(query: pl.LazyFrame, frame: pl.DataFrame) -> pl.LazyFrame:
    """kind and decoded log_name, once per distinct logName; request intervals."""
    kinds = {name: per_entry.kind_of(name) for name in frame.get_column("logName").unique()}
    latency = pl.col("http_latency_s")
    query = query.with_columns(
        kind=pl.col("logName").replace_strict(
            {name: kind for name, (kind, _) in kinds.items()}, return_dtype=_S
        ),
        log_name=pl.col("logName").replace_strict(
            {name: decoded for name, (_, decoded) in kinds.items()}, return_dtype=_S
        ),
    )
    return query.with_columns(
        timestamp=pl.col("_ts"),
        end_time=pl.when((pl.col("kind") == "request") & latency.is_not_null())
        .then(pl.col("_ts") + (latency * 1_000_000).round(0).cast(pl.Int64))
        .otherwise(pl.col("_ts")),
    )


def _field_ids(query: pl.LazyFrame, frame: pl.DataFrame, col: _Columns) -> pl.LazyFrame:
    """trace, span, connection_id and user_id from the entry's fields (see `_other_traces`)."""
    trace = _nonempty(col("trace"))
    span = _nonempty(col("spanId"))
    raw_trace = _nonempty(pl.coalesce(trace, col(f"p:{_TRACE_KEY}")))
    # `projects/P/traces/T` with a short P (at most 63 bytes in all) ends in the only run of 32
    # hex digits it can hold: sliced (when already lower case); the rest goes through the regex
    tail = raw_trace.str.tail(32)
    plain = (
        (raw_trace.str.len_bytes() <= 63)
        & tail.str.contains(r"^[0-9a-f]{32}$")
        & ~raw_trace.str.slice(-33, 1).str.contains("^[0-9a-fA-F]$")
    ).fill_null(False)
    return query.with_columns(
        _raw_trace=raw_trace,
        trace=pl.when(plain).then(tail),
        _plain_trace=plain,
        span_id=_nonempty(pl.coalesce(span, col(f"p:{_SPAN_KEY}"))),
        connection_id=_field_id(frame, col, per_entry.CONNECTION_KEYS),
        user_id=_field_id(frame, col, per_entry.USER_KEYS),
    )


def _other_traces(rows: pl.DataFrame) -> pl.DataFrame:
    """The trace ids `_field_ids` could not slice, by the regex, on their rows only."""
    where = ~pl.col("_plain_trace") & pl.col("_raw_trace").is_not_null()
    index = rows.select(pl.arg_where(where)).to_series()
    if not index.len():
        return rows
    found = rows.get_column("_raw_trace").gather(index).str.extract(_TRACE_ID, 1)
    trace = rows.get_column("trace")
    return rows.with_columns(trace.scatter(index, found.str.to_lowercase()))


def _text_ids_of(rows: pl.DataFrame, id_patterns: IdPatterns) -> pl.DataFrame:
    """connection_id, user_id and trace the fields did not give, from the message's text."""
    searchable = pl.col("_searchable")
    needs = (searchable != "") & (
        pl.col("connection_id").is_null() | pl.col("user_id").is_null() | pl.col("trace").is_null()
    )
    rust = polars_id_patterns(id_patterns)
    if rust is not None:  # every default pattern needs an id's name, or "trace"
        needs = needs & (
            searchable.str.contains_any(list(_ID_NAMES))
            | searchable.str.contains_any(["trace"], ascii_case_insensitive=True)
        )
    wanted = rows.select(searchable, _needs=needs).with_row_index("_i").filter("_needs")
    if wanted.is_empty():
        return rows
    texts = wanted.select("_searchable").unique()
    found = _text_ids(texts, rust, id_patterns)
    hits = wanted.join(found, on="_searchable", how="left")
    columns = []
    for name in ("connection_id", "user_id", "trace"):
        column = rows.get_column(name)
        text_ids = column.gather(hits.get_column("_i"))
        columns.append(
            column.scatter(hits.get_column("_i"), text_ids.fill_null(hits.get_column(f"t_{name}")))
        )
    return rows.with_columns(columns)


def _field_id(frame: pl.DataFrame, col: _Columns, names: tuple[str, ...]) -> pl.Expr:
    """entry._field_id: the first real id in the payload, its context/extra/labels, the labels."""
    values = [
        _per_value(frame, name, _real_id)
        for name in col.present_of(*(f"{place}{key}" for place in _ID_PLACES for key in names))
    ]
    return pl.coalesce(values) if values else pl.lit(None, dtype=_S)


def _real_id(value: pl.Expr) -> pl.Expr:
    """entry._id_value of a string: stripped, unless empty or a placeholder."""
    stripped = value.str.strip_chars()
    return pl.when((stripped != "") & ~stripped.str.contains(_NULLISH)).then(stripped)


def _url_path(url: pl.Expr) -> pl.Expr:
    """urlsplit(url).path or "/" (see `_URL_HEAD`), for a URL given."""
    path = _nonempty(url).str.replace(_URL_HEAD, "").str.replace(_URL_TAIL, "")
    return path.replace("", "/")


def _per_value(frame: pl.DataFrame, name: str, compute: Callable[[pl.Expr], pl.Expr]) -> pl.Expr:
    """`compute` of the column `name`, worked out once per distinct value and looked up where
    values repeat (ids, URLs: tens of thousands in a million lines), row by row where not."""
    values = frame.get_column(name).drop_nulls().unique()
    if values.len() > frame.height // 4:
        return compute(pl.col(name))
    results = pl.DataFrame({name: values}).select(compute(pl.col(name))).to_series()
    return pl.col(name).replace_strict(values, results, default=None, return_dtype=results.dtype)


def _text_ids(
    texts: pl.DataFrame, rust: dict[str, tuple[str, ...]] | None, patterns: IdPatterns
) -> pl.DataFrame:
    """First real connection id, user id and trace named in each distinct text (entry.ids_in)."""
    names = ("t_connection_id", "t_user_id", "t_trace")
    if rust is None:
        found = [per_entry.ids_in(text, patterns) for text in texts.get_column("_searchable")]
        return texts.with_columns(
            pl.Series(name, [ids[n] for ids in found], dtype=_S) for n, name in enumerate(names)
        )
    text = pl.col("_searchable")
    nullish = list(NULLISH_IDS)

    def first(kind: str) -> pl.Expr:
        hits = []
        for pattern in rust[kind]:
            values = text.str.extract_all(pattern).list.eval(pl.element().str.extract(pattern, 1))
            if kind == "trace":
                values = values.list.eval(pl.element().str.to_lowercase())
            else:
                values = values.list.eval(
                    pl.element().filter(~pl.element().str.to_lowercase().is_in(nullish))
                )
            hits.append(values.list.first())
        return pl.coalesce(hits)

    kinds = ("connection_id", "user_id", "trace")
    return texts.with_columns(**{n: first(k) for n, k in zip(names, kinds, strict=True)})


def _raw(frame: pl.DataFrame, col: _Columns) -> pl.Expr:
    """`entry.origin` of every row; values are few, so each is made JSON once."""
    name = pl.concat_str([pl.lit('{"logName":'), _json_text(frame, "logName")])
    if "project_id" not in col.present:
        return pl.concat_str([name, pl.lit("}")])
    project = pl.concat_str(
        [
            pl.lit(',"resource":{"labels":{"project_id":'),
            _json_text(frame, "project_id"),
            pl.lit("}}"),
        ]
    )
    return pl.concat_str([name, project.fill_null(""), pl.lit("}")])


def _json_text(frame: pl.DataFrame, column: str) -> pl.Expr:
    """json.dumps of the column's values: quoted as they are when none needs escaping."""
    values = frame.get_column(column).drop_nulls().unique().to_list()
    texts = {value: json.dumps(value) for value in values}
    if all(text == f'"{value}"' for value, text in texts.items()):
        return pl.concat_str([pl.lit('"'), pl.col(column), pl.lit('"')])
    return pl.col(column).replace_strict(texts, default=None)
