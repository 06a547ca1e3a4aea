"""Normalization of Cloud Logging entries, in every serialization seen in the wild, to rows.

Three shapes reach us: the `LogEntry` JSON of `gcloud logging read` and log sinks (camelCase),
a snake_case re-serialization (`insert_id`, `text_payload`, `json_payload`, `http_request`), and
collector re-serializations (no `logName`, null fields, `+00:00` timestamps). This module knows
nothing about files, so the live Cloud Logging source can feed it the same way.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import polars as pl

from fivewhys.ids import (
    DEFAULT_PATTERNS,
    PROPERTY_KEYS,
    IdPatterns,
    extract_ids,
    is_real_id,
    normalize_trace,
    strip_ansi,
)
from fivewhys.logs.frame import LOGFRAME_SCHEMA, SEVERITY_RANK, UTC_US

COLUMNS: tuple[str, ...] = tuple(LOGFRAME_SCHEMA)

#: skipped-entry reasons (keys of `LogBatch.skipped`)
INVALID_JSON = "invalid JSON"
NOT_AN_OBJECT = "not a JSON object"
MISSING_TIMESTAMP = "missing timestamp"
INVALID_TIMESTAMP = "invalid timestamp"
DUPLICATE = "duplicate insertId"

#: per-input cap on warning lines; the rest are summarized as "... and N more"
WARN_LIMIT = 20

#: snake_case keys a re-serialization writes instead of the LogEntry camelCase ones
_SNAKE_KEYS = frozenset(
    {"insert_id", "text_payload", "json_payload", "proto_payload", "http_request", "log_name"}
    | {"receive_timestamp", "span_id", "trace_sampled", "source_location"}
)
MESSAGE_KEYS = ("message", "msg", "text", "textPayload")
EXC_KEYS = ("exc_info", "stack_trace", "stackTrace", "traceback")
_ID_CONTAINERS = ("context", "extra", "labels")
CONNECTION_KEYS = PROPERTY_KEYS["connection_ids"]
USER_KEYS = PROPERTY_KEYS["user_ids"]
_SEVERITY_NUMBERS = {number: name for name, number in SEVERITY_RANK.items()}
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_SECONDS = (date(1, 1, 2).toordinal() - _EPOCH_ORDINAL) * 86400
_MAX_SECONDS = (date(9999, 12, 31).toordinal() - _EPOCH_ORDINAL) * 86400
#: a longer "latency" is a broken field, not a request (and would overflow end_time)
MAX_LATENCY_S = 7 * 86400.0
_TIMESTAMP = re.compile(
    r"\s*(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2}))\s*"
)
#: uvicorn / gunicorn access lines: `1.2.3.4:5 - "GET /health HTTP/1.1" 200`, `"WebSocket /ws" 403`
ACCESS_LINE = re.compile(
    r'"(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS|CONNECT|TRACE|WebSocket) ([^\s"?]+)'
    r'(?:\?[^\s"]*)?(?: HTTP/[\d.]+)?" ([1-5]\d\d)\b'
)
#: the `websockets` server's handshake rejection: `connection rejected (403 Forbidden)`
REJECTED = re.compile(r"\bconnection rejected \(([1-5]\d\d)\b")
#: what Cloud Run itself writes to `varlog/system`, to recognize such lines without a logName
_PLATFORM_SYSTEM = re.compile(
    r"Container called exit\(\d+\)\.|Container terminated on signal \d+\.|"
    r"(?:Default )?STARTUP (?:TCP|HTTP) probe (?:succeeded|failed)|Starting new instance\. |"
    r"Memory limit of \S+ exceeded"
)
_CACHE_LIMIT = 50_000
#: rows per chunk frame (see `LogBatch.flush`)
CHUNK_ROWS = 100_000
#: LOGFRAME_SCHEMA with timestamps as epoch microseconds, cast once at the end
BUILD_SCHEMA = {**LOGFRAME_SCHEMA, "timestamp": pl.Int64(), "end_time": pl.Int64()}


class _Skip(Exception):
    """An entry that cannot become a row, with the counted reason and a one-line detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class LogBatch:
    """Rows (as column lists), counted skips and mappings, and capped warnings for one input.

    One batch per file (or per live query) keeps the warning cap per input; `build_frame`
    turns any number of batches into one LogFrame in one go.
    """

    label: str = ""
    warn_limit: int = WARN_LIMIT
    columns: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in COLUMNS})
    #: rows already moved out of `columns` into compact frames (timestamps as epoch µs)
    chunks: list[pl.DataFrame] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    mapped: Counter[str] = field(default_factory=Counter)
    _warnings: list[str] = field(default_factory=list, init=False, repr=False)
    _hidden: int = field(default=0, init=False, repr=False)

    def __len__(self) -> int:
        return len(self.columns["insert_id"]) + sum(chunk.height for chunk in self.chunks)

    def flush(self) -> None:
        """Move the collected rows into a frame, so a million Python strings don't pile up."""
        if self.columns["insert_id"]:
            self.chunks.append(pl.DataFrame(self.columns, schema=BUILD_SCHEMA))
            for values in self.columns.values():
                values.clear()

    def skip(self, source: str, reason: str, detail: str | None = None) -> None:
        """Count one skipped entry under `reason` and warn about it, naming where it was."""
        self.skipped[reason] += 1
        self.warn(f"{source}: skipped: {detail or reason}")

    def warn(self, line: str) -> None:
        if len(self._warnings) < self.warn_limit:
            self._warnings.append(line)
        else:
            self._hidden += 1

    @property
    def warnings(self) -> list[str]:
        if not self._hidden:
            return list(self._warnings)
        where = f"{self.label}: " if self.label else ""
        return [*self._warnings, f"{where}... and {self._hidden} more"]


class _Memo:
    """A bounded memo: log messages repeat a lot, and the ids in them are a function of them."""

    def __init__(self, fn: Callable[[str], Any]) -> None:
        self.fn = fn
        self.memo: dict[str, Any] = {}

    def __call__(self, key: str) -> Any:
        try:
            return self.memo[key]
        except KeyError:
            if len(self.memo) >= _CACHE_LIMIT:
                self.memo.clear()
            value = self.memo[key] = self.fn(key)
            return value


def normalize_entries(
    entries: Iterable[tuple[str, Any]],
    *,
    id_patterns: IdPatterns = DEFAULT_PATTERNS,
    batch: LogBatch | None = None,
) -> LogBatch:
    """Append one row per understood `(source, entry)` to `batch`; count and warn the rest.

    Never raises for a bad entry: whatever goes wrong is a counted skip named by its reason.
    (Exceptions raised by the `entries` iterator itself, e.g. an unreadable file, propagate.)
    """
    out = batch if batch is not None else LogBatch()
    appends = [out.columns[c].append for c in COLUMNS]
    found_ids = _Memo(lambda text: ids_in(text, id_patterns))
    kinds: dict[str | None, tuple[str | None, str | None]] = {}
    mapped = out.mapped
    pending = len(out.columns["insert_id"])
    for source, entry in entries:
        if not isinstance(entry, dict):
            out.skip(source, NOT_AN_OBJECT, f"{NOT_AN_OBJECT} ({type(entry).__name__})")
            continue
        try:
            row = _row(entry, source, mapped, kinds, found_ids)
        except _Skip as skip:
            out.skip(source, skip.reason, skip.detail)
            continue
        except Exception as exc:  # one odd entry must not stop the run
            reason = f"unexpected {type(exc).__name__}"
            out.skip(source, reason, f"{reason}: {exc}")
            continue
        for append, value in zip(appends, row, strict=True):
            append(value)
        pending += 1
        if pending >= CHUNK_ROWS:
            out.flush()
            pending = 0
    return out


def build_frame(batches: Sequence[LogBatch]) -> tuple[pl.DataFrame, int]:
    """One LogFrame from the batches' rows, sorted by (timestamp, insert_id), one row per insertId.

    Returns the frame and how many duplicate rows were dropped (the first one read is kept).
    """
    parts = [pl.DataFrame(schema=BUILD_SCHEMA)]
    for batch in batches:  # in reading order, so that the first row read wins below
        parts.extend(batch.chunks)
        if batch.columns["insert_id"]:
            parts.append(pl.DataFrame(batch.columns, schema=BUILD_SCHEMA))
    frame = pl.concat(parts, how="vertical")
    frame = frame.with_columns(pl.col("timestamp").cast(UTC_US), pl.col("end_time").cast(UTC_US))
    unique = first_per_insert_id(frame)
    return sort_by_time(unique), frame.height - unique.height


def sort_by_time(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` sorted by (timestamp, insert_id). Files and bundles mostly come in that order
    already: checking it is one comparison pass (a tenth of the sort of a million rows), and
    with no nulls and no equal keys the sort would give back these very rows."""
    stamp, insert_id = pl.col("timestamp"), pl.col("insert_id")
    before, id_before = stamp.shift(1), insert_id.shift(1)
    in_order = (stamp > before) | ((stamp == before) & (insert_id > id_before))
    already = frame.select(
        in_order.slice(1).all() & (stamp.null_count() == 0) & (insert_id.null_count() == 0)
    ).item()
    if not already:
        return frame.sort("timestamp", "insert_id")
    return frame.with_columns(stamp.set_sorted())  # as the sort would flag it


def first_per_insert_id(frame: pl.DataFrame) -> pl.DataFrame:
    """The first row of each insertId, in order. Checking for repeats first costs a tenth of
    the order-keeping dedup, which a frame with no repeat (most) then skips."""
    if all_distinct(frame.get_column("insert_id")):
        return frame
    return frame.unique(subset="insert_id", keep="first", maintain_order=True)


def all_distinct(values: pl.Series) -> bool:
    """No value repeats (a null counts as one value). Distinct hashes are distinct values, and
    counting 64-bit hashes takes a third of counting the strings; only when hashes repeat (a
    value does, or, about never, two collide) are the values themselves counted."""
    return values.hash().n_unique() == values.len() or values.n_unique() == values.len()


def _row(
    entry: dict[str, Any],
    source: str,
    mapped: Counter[str],
    kinds: dict[str | None, tuple[str | None, str | None]],
    found_ids: _Memo,
) -> tuple[Any, ...]:
    """The LogFrame row of one entry, in `COLUMNS` order; raises `_Skip` when impossible."""
    timestamp = _timestamp_us(entry.get("timestamp"), mapped)  # first: it may skip the entry
    snake = not _SNAKE_KEYS.isdisjoint(entry)
    if snake:
        mapped["snake_case re-serialization"] += 1
    get = _snake_get if snake else _camel_get
    if None in entry.values():
        mapped["null fields ignored"] += 1

    log_name = get(entry, "logName", "log_name")
    if not isinstance(log_name, str):
        log_name = None
    if log_name not in kinds:
        kinds[log_name] = kind_of(log_name)
    kind, log_name_text = kinds[log_name]

    severity = entry.get("severity")
    if isinstance(severity, str) and severity:
        severity = severity.upper()
    elif isinstance(severity, int) and severity in _SEVERITY_NUMBERS:
        severity = _SEVERITY_NUMBERS[severity]
        mapped["numeric severity"] += 1
    else:
        severity = "DEFAULT"
        mapped["no severity (DEFAULT)"] += 1

    resource = entry.get("resource")
    rlabels = resource.get("labels") if isinstance(resource, dict) else None
    if not isinstance(rlabels, dict):
        rlabels = {}
    labels = entry.get("labels")
    if not isinstance(labels, dict):
        labels = {}
    instance_id = (
        labels.get("instanceId")
        or labels.get("run.googleapis.com/instanceId")
        or labels.get("instance_id")
    )

    # message
    payload = get(entry, "jsonPayload", "json_payload")
    if not isinstance(payload, dict):
        payload = None
    text = get(entry, "textPayload", "text_payload")
    if isinstance(text, str) and text:
        message = text.rstrip("\r\n")
    elif payload is not None:
        message = _payload_message(payload)
    else:
        message = _other_message(entry, get, mapped)
    if "\x1b" in message:
        message = strip_ansi(message)
        mapped["ANSI colour codes stripped"] += 1

    # HTTP
    method = path = agent = None
    status: int | None = None
    latency: float | None = None
    searchable = message
    http = get(entry, "httpRequest", "http_request")
    if isinstance(http, dict) and http:
        method, path, status, latency, agent = _http_fields(http, mapped)
        if not message:
            message = _summary(method, path, status, latency, agent)
            searchable = ""  # synthesized from fields: no ids to find in it
    else:
        http = None
        if message:
            method, path, status = _access_line(message, mapped)

    if kind is None:  # no logName: decide from the content, and say so
        if http is not None:
            kind = "request"
            mapped["no logName (request: has httpRequest)"] += 1
        elif _PLATFORM_SYSTEM.match(message):
            kind = "system"
            mapped["no logName (system: Cloud Run platform message)"] += 1
        else:
            kind = "other"
            mapped["no logName (other)"] += 1
    end_time = timestamp
    if kind == "request" and latency is not None:
        end_time = timestamp + round(latency * 1_000_000)

    # ids
    raw_trace = entry.get("trace")
    if not (isinstance(raw_trace, str) and raw_trace) and payload is not None:
        raw_trace = payload.get("logging.googleapis.com/trace")
    trace = normalize_trace(raw_trace) if isinstance(raw_trace, str) and raw_trace else None
    span = get(entry, "spanId", "span_id")
    if not span and payload is not None:
        span = payload.get("logging.googleapis.com/spanId")
    connection_id = _field_id(payload, labels, CONNECTION_KEYS)
    user_id = _field_id(payload, labels, USER_KEYS)
    if searchable and (connection_id is None or user_id is None or trace is None):
        text_conn, text_user, text_trace = found_ids(searchable)
        connection_id = connection_id or text_conn
        user_id = user_id or text_user
        trace = trace or text_trace

    insert_id = get(entry, "insertId", "insert_id")
    if not isinstance(insert_id, str) or not insert_id:
        if isinstance(insert_id, int) and not isinstance(insert_id, bool):
            insert_id = str(insert_id)
        else:
            whole = json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str)
            insert_id = "synthetic-" + hashlib.sha1(whole.encode()).hexdigest()[:16]
            mapped["no insertId (synthetic id from the entry's JSON)"] += 1

    return (
        timestamp,
        end_time,
        severity,
        _str_or_none(rlabels.get("service_name")),
        _str_or_none(rlabels.get("revision_name")),
        _str_or_none(instance_id),
        kind,
        log_name_text,
        message,
        method,
        status,
        path,
        latency,
        agent,
        trace,
        _str_or_none(span),
        insert_id,
        connection_id,
        user_id,
        None,  # template: `frame.fill_templates`, for the lines a failure may cite
        source,
        origin(get(entry, "logName", "log_name"), rlabels.get("project_id")),
    )


def _camel_get(entry: dict[str, Any], camel: str, snake: str) -> Any:
    return entry.get(camel)


def _snake_get(entry: dict[str, Any], camel: str, snake: str) -> Any:
    value = entry.get(camel)
    return entry.get(snake) if value is None else value


def origin(log_name: Any, project_id: Any) -> str:
    """The `raw` column: the logName and the resource's project_id, as sorted compact JSON.

    What a report needs of the whole entry is where it came from (the project); the rest stays in
    the file, at `source`: a million entries held twice as JSON would double the memory.
    """
    stub: dict[str, Any] = {"logName": log_name if isinstance(log_name, str) else None}
    if project_id is not None:
        project = project_id if isinstance(project_id, str) else str(project_id)
        stub["resource"] = {"labels": {"project_id": project}}
    return json.dumps(stub, sort_keys=True, separators=(",", ":"))


def _str_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _timestamp_us(value: Any, mapped: Counter[str]) -> int:
    """Epoch microseconds (UTC) of an RFC 3339 timestamp; nanoseconds are truncated."""
    if value is None or value == "":
        raise _Skip(MISSING_TIMESTAMP, MISSING_TIMESTAMP)
    if isinstance(value, str):
        m = _TIMESTAMP.fullmatch(value)
        if m is None:
            raise _Skip(INVALID_TIMESTAMP, f"{INVALID_TIMESTAMP} {value[:60]!r}")
        year, month, day, hour, minute, second, frac, zulu, sign, off_h, off_m = m.groups()
        try:
            days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
        except ValueError:
            raise _Skip(INVALID_TIMESTAMP, f"{INVALID_TIMESTAMP} {value[:60]!r}") from None
        h, mi, s = int(hour), int(minute), int(second)
        if h > 23 or mi > 59 or s > 60:
            raise _Skip(INVALID_TIMESTAMP, f"{INVALID_TIMESTAMP} {value[:60]!r}")
        seconds = days * 86400 + h * 3600 + mi * 60 + s
        if not zulu:
            offset = int(off_h) * 3600 + int(off_m) * 60
            seconds -= offset if sign == "+" else -offset
            mapped["timestamp with UTC offset (converted to UTC)"] += 1
        micros = int((frac + "00000")[:6]) if frac else 0
        return seconds * 1_000_000 + micros
    if isinstance(value, datetime):  # the live client may hand over datetimes
        if value.tzinfo is None:
            raise _Skip(INVALID_TIMESTAMP, f"{INVALID_TIMESTAMP} (no time zone) {value!s}")
        delta = value - _EPOCH
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, dict) and isinstance(value.get("seconds"), int | str):
        try:
            seconds = int(value["seconds"])
            nanos = int(value.get("nanos") or 0)
        except ValueError:
            raise _Skip(INVALID_TIMESTAMP, f"{INVALID_TIMESTAMP} {value!r}"[:120]) from None
        if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
            raise _Skip(INVALID_TIMESTAMP, f"{INVALID_TIMESTAMP} {value!r}"[:120])
        mapped["protobuf timestamp {seconds, nanos}"] += 1
        return seconds * 1_000_000 + nanos // 1000
    raise _Skip(INVALID_TIMESTAMP, f"{INVALID_TIMESTAMP} {value!r}"[:120])


def kind_of(log_name: str | None) -> tuple[str | None, str | None]:
    """(kind, URL-decoded logName); kind None when there is no logName to tell."""
    if not log_name:
        return None, None
    name = unquote(log_name) if "%" in log_name else log_name
    log_id = name.split("/logs/", 1)[1] if "/logs/" in name else name
    if log_id.endswith("run.googleapis.com/requests"):
        return "request", name
    if log_id == "stdout" or log_id.endswith("/stdout"):
        return "stdout", name
    if log_id == "stderr" or log_id.endswith("/stderr"):
        return "stderr", name
    if log_id.endswith("varlog/system"):
        return "system", name
    if log_id.startswith("cloudaudit.googleapis.com"):
        return "audit", name
    return "other", name


def _payload_message(payload: dict[str, Any]) -> str:
    """`message` (or msg/text/textPayload) of a jsonPayload, with its traceback appended."""
    message: str | None = None
    for key in MESSAGE_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value:
            message = value
            break
        if value is not None and not isinstance(value, str):
            message = _compact(value)
            break
    if message is None:
        message = _compact(
            {
                k: v
                for k, v in payload.items()
                if not k.startswith("logging.googleapis.com/") and k != "timestamp"
            }
        )
    exc = _exception_text(payload)
    if exc and exc not in message:
        message = f"{message}\n{exc}"
    return message


def _exception_text(payload: dict[str, Any]) -> str | None:
    for container in (payload, payload.get("context"), payload.get("error")):
        if isinstance(container, dict):
            for key in EXC_KEYS:
                value = container.get(key)
                if isinstance(value, str) and value.strip():
                    return value.rstrip()
    return None


def _other_message(entry: dict[str, Any], get: Callable[..., Any], mapped: Counter[str]) -> str:
    """The message of an entry with neither textPayload nor jsonPayload (audit, collectors)."""
    proto = get(entry, "protoPayload", "proto_payload")
    if isinstance(proto, dict):
        parts = [proto.get("methodName"), proto.get("resourceName")]
        status = proto.get("status")
        if isinstance(status, dict) and status.get("message"):
            parts.append(status.get("message"))
        return " ".join(str(p) for p in parts if p) or _compact(proto)
    raw_payload = entry.get("raw_payload")
    if isinstance(raw_payload, str) and raw_payload:
        mapped["message from raw_payload"] += 1
        return raw_payload
    return ""


def _compact(value: Any) -> str:
    """Compact sorted JSON, long string values cut, so a payload without a message still reads."""
    if isinstance(value, dict):
        value = {
            k: (v[:500] + "...") if isinstance(v, str) and len(v) > 500 else v
            for k, v in value.items()
        }
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)[:4000]


def _http_fields(
    http: dict[str, Any], mapped: Counter[str]
) -> tuple[str | None, str | None, int | None, float | None, str | None]:
    method = http.get("requestMethod") or http.get("request_method") or http.get("method")
    url = http.get("requestUrl") or http.get("request_url") or http.get("url")
    if "method" in http or "url" in http:
        mapped["httpRequest {method, url} re-serialization"] += 1
    path = None
    if isinstance(url, str) and url:
        try:
            path = urlsplit(url).path or "/"
        except ValueError:  # e.g. a broken IPv6 host: keep the rest of the request
            path = None
    status_value = http.get("status")
    status: int | None = None
    if isinstance(status_value, int) and not isinstance(status_value, bool):
        status = status_value
    elif isinstance(status_value, str) and status_value.strip().isdigit():
        status = int(status_value)
        mapped["httpRequest.status as a string"] += 1
    if status is not None and not 0 < status < 1000:
        status = None
    agent = http.get("userAgent") or http.get("user_agent")
    return (
        _str_or_none(method),
        path,
        status,
        _latency_s(http.get("latency")),
        _str_or_none(agent),
    )


def _latency_s(value: Any) -> float | None:
    """Seconds from `"0.008254829s"`, a number, or `{seconds, nanos}`; None when not sane."""
    seconds: float | None = None
    try:
        if isinstance(value, str) and value:
            seconds = float(value[:-1] if value[-1] == "s" else value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, dict):
            seconds = int(value.get("seconds") or 0) + int(value.get("nanos") or 0) / 1e9
    except (ValueError, TypeError):
        return None
    if seconds is None or not 0.0 <= seconds <= MAX_LATENCY_S:  # also rejects NaN
        return None
    return seconds


def _summary(
    method: str | None,
    path: str | None,
    status: int | None,
    latency: float | None,
    agent: str | None,
    latency_text: str | None = None,
) -> str:
    """`GET /ws 403 0.012s python-httpx/0.28.1`: a request log's message when it has no payload."""
    parts = [
        method,
        path,
        str(status) if status is not None else None,
        (latency_text or f"{latency:.3f}s") if latency is not None else None,
        agent,
    ]
    return " ".join(p for p in parts if p)


def _access_line(message: str, mapped: Counter[str]) -> tuple[str | None, str | None, int | None]:
    """Method, path and status of an access-log line written as text by the server."""
    head = message[:512]
    if '" ' in head:
        m = ACCESS_LINE.search(head)
        if m:
            mapped["access-log text (http_method/path/status parsed)"] += 1
            return m.group(1), m.group(2), int(m.group(3))
    if "connection rejected (" in head:
        m = REJECTED.search(head)
        if m:
            mapped["'connection rejected (NNN ...)' text (http_status parsed)"] += 1
            return None, None, int(m.group(1))
    return None, None, None


def _id_value(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text if is_real_id(text) else None


def _field_id(
    payload: dict[str, Any] | None, labels: dict[str, Any], names: tuple[str, ...]
) -> str | None:
    """An id from structured fields: the payload, its context/extra/labels, then entry labels."""
    containers: list[Any] = []
    if payload is not None:
        containers.append(payload)
        containers.extend(payload.get(c) for c in _ID_CONTAINERS)
    containers.append(labels)
    for container in containers:
        if isinstance(container, dict):
            for name in names:
                if name in container and (found := _id_value(container[name])) is not None:
                    return found
    return None


def ids_in(text: str, patterns: IdPatterns) -> tuple[str | None, str | None, str | None]:
    """First connection id, user id and trace named in a message (null-like values ignored)."""
    ids = extract_ids([text], patterns=patterns)
    return (
        next((v for v in ids.connection_ids if _id_value(v)), None),
        next((v for v in ids.user_ids if _id_value(v)), None),
        ids.traces[0] if ids.traces else None,
    )
