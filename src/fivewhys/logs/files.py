"""Log files as a LogFrame: `gcloud logging read --format=json` arrays, NDJSON sink files, and
the Parquet bundles `fivewhys pull` writes.

The format is told by content, not by name: a file starting with the Parquet magic `PAR1` is a
bundle (see `bundle.py`); text is decoded by its byte-order mark (UTF-8, UTF-16, UTF-32: see
`encoding.py`); a first non-space `[` is a JSON array (newest first); `{` starts NDJSON (one
entry per line, oldest first), a single LogEntry object, or an object whose arrays hold
LogEntries (collectors' wrappers). Problems with a whole file are `InputError`s (fatal only when
no other file could be read, or with `strict`); problems with one entry are counted skips.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from fivewhys import json_input
from fivewhys.encoding import sniff
from fivewhys.errors import InputError, read_as_input
from fivewhys.ids import DEFAULT_PATTERNS, IdPatterns
from fivewhys.logs.bundle import BundleMeta, is_parquet, read_bundle
from fivewhys.logs.entry import (
    DUPLICATE,
    INVALID_JSON,
    LogBatch,
    build_frame,
    first_per_insert_id,
    normalize_entries,
    sort_by_time,
)
from fivewhys.logs.fast import read_ndjson
from fivewhys.logs.frame import empty_logframe
from fivewhys.model import Deploy, LogFileRead, PullInfo

__all__ = ["LogRead", "collect", "normalize_entries", "read_log_files"]

_SPACE = b" \t\r\n"
NO_LOGENTRY = (
    "no entry is a Cloud Logging LogEntry (expected timestamp plus "
    "textPayload/jsonPayload/protoPayload/httpRequest)"
)
#: keys only a LogEntry has beside its timestamp (its payloads, its name and id), camelCase and as
#: re-serializations write them; an entry's payload is optional, so a logName is enough
_LOGENTRY_KEYS = frozenset(
    {"textPayload", "jsonPayload", "protoPayload", "httpRequest", "logName", "insertId"}
    | {"text_payload", "json_payload", "proto_payload", "http_request", "raw_payload"}
    | {"log_name", "insert_id"}
)
#: shapes a log file is read as (`LogFileRead.shape`)
NDJSON = "NDJSON (one LogEntry per line)"
ARRAY = "JSON array"
SINGLE = "a single LogEntry object"
_MAX_DEPTH = 3
_SHOWN_KEYS = 6
_SHOWN_REASONS = 3


@dataclass(frozen=True)
class LogRead:
    """What reading the log files gave: the frame, and an honest account of what was left out."""

    #: LOGFRAME_SCHEMA exactly, sorted by (timestamp, insert_id), one row per insertId
    frame: pl.DataFrame
    #: files read, in order
    sources: list[str]
    #: reason -> number of entries skipped (including insertId duplicates)
    skipped: dict[str, int]
    #: one line each, naming file:line; at most ~20 per file, then "... and N more"
    warnings: list[str]
    #: how non-standard shapes were mapped, e.g. "snake_case re-serialization" -> 4
    mapped: dict[str, int]
    #: pulls from the Cloud Logging API behind the rows (live, or from bundles read)
    pulls: list[PullInfo] = field(default_factory=list)
    #: per file given: how it was read, entries read and skipped, or why it was not
    files: list[LogFileRead] = field(default_factory=list)
    #: the deploys a live pull's lookback read from the audit log (kept in its bundle), and how
    #: far back it read them; None when no lookback ran
    deploys: tuple[Deploy, ...] = ()
    deploy_reach: str | None = None


def read_log_files(
    patterns_or_paths: Sequence[str],
    *,
    id_patterns: IdPatterns = DEFAULT_PATTERNS,
    strict: bool = False,
) -> LogRead:
    """Read every file named or matched (globs expanded, sorted), in order, into one LogFrame.

    Raises `InputError` for a missing file, a glob matching nothing or a directory. A file that
    cannot be used at all (unreadable, malformed, no LogEntry in it, no entry readable) is an
    `InputError` too when `strict`, or when no other file gave an entry; otherwise the analysis
    goes on with the others and the file is named, with the reason, in `files` and `warnings`.
    """
    paths = _expand(patterns_or_paths)
    batches: list[LogBatch] = []
    bundles: list[tuple[pl.DataFrame, BundleMeta]] = []
    sources: list[str] = []
    files: list[LogFileRead] = []
    refused: list[InputError] = []
    for path in paths:
        try:
            if is_parquet(path):
                # not listed in `files`: a bundle reads back into the very report of its pull,
                # whose metadata (sources, skips, windows) it carries
                with read_as_input(path):
                    frame, meta = read_bundle(path)
                bundles.append((frame, meta))
                sources.extend(meta.sources)
                continue
            with read_as_input(path):
                batch, shape, encoding = _read_one(path, id_patterns)
        except InputError as exc:
            if strict:
                raise
            refused.append(exc)
            files.append(LogFileRead(path=path, shape="not read", unread=exc.message))
            continue
        batches.append(batch)
        sources.append(path)
        files.append(
            LogFileRead(
                path=path,
                shape=shape,
                encoding=encoding,
                read=len(batch),
                skipped=sum(batch.skipped.values()),
            )
        )
    if refused and not any(file.read for file in files) and not any(f.height for f, _ in bundles):
        raise refused[0]
    read = collect(batches, sources, bundles)
    left_out = [f"{exc}; the analysis went on with the other log files" for exc in refused]
    return dataclasses.replace(read, files=files, warnings=[*left_out, *read.warnings])


def _read_one(path: str, id_patterns: IdPatterns) -> tuple[LogBatch, str, str]:
    """One log file's batch, the shape it was read as and its encoding; `InputError` when none
    of it can be used."""
    skip, codec, encoding = sniff(_head(path))
    batch = LogBatch(label=path)
    fast = not skip and codec == "utf-8" and _first_byte(path) == b"{"
    if fast and read_ndjson(path, batch, id_patterns) and (len(batch) or not batch.skipped):
        return batch, NDJSON, encoding
    batch = LogBatch(label=path)  # read again entry by entry: it tells why nothing was read
    reading = _Reading(path, batch, codec, skip)
    normalize_entries(reading.entries(), id_patterns=id_patterns, batch=batch)
    if not len(batch) and batch.skipped:
        raise InputError(_nothing_read(path, batch), path)
    return batch, reading.shape, encoding


def collect(
    batches: Sequence[LogBatch],
    sources: Sequence[str],
    bundles: Sequence[tuple[pl.DataFrame, BundleMeta]] = (),
    pulls: Sequence[PullInfo] = (),
) -> LogRead:
    """One LogRead from normalized batches and bundles read back (rows of batches come first,
    so for a repeated insertId the batch's row is kept), with their accounts merged.

    A bundle alone (no batch with rows) is used as read, not copied. Of what a bundle says of
    itself, its schema and row count are checked on reading it (`read_bundle`), but not that
    its rows are the LogFrame a pull wrote, one per insertId in (timestamp, insert_id) order: a
    bundle made by hand, by another tool or damaged may be neither. So both are still checked,
    as for several inputs, at the cost of one hash count and one comparison pass; the dedup and
    the sort run only when a check fails.
    """
    parts: list[pl.DataFrame] = []
    duplicates = 0
    if any(len(batch) for batch in batches) or not bundles:
        built, duplicates = build_frame(batches)
        parts.append(built)
    frame = parts[0] if parts else empty_logframe()
    skipped: Counter[str] = Counter()
    mapped: Counter[str] = Counter()
    warnings: list[str] = []
    for batch in batches:
        skipped.update(batch.skipped)
        mapped.update(batch.mapped)
        warnings.extend(batch.warnings)
    all_pulls = list(pulls)
    deploys: list[Deploy] = []
    reach: str | None = None
    if bundles:
        parts.extend(rows for rows, _ in bundles)
        merged = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")
        unique = first_per_insert_id(merged)
        frame = sort_by_time(unique)
        duplicates += merged.height - unique.height
        for _, meta in bundles:
            skipped.update(meta.skipped)
            mapped.update(meta.mapped)
            warnings.extend(meta.warnings)
            all_pulls.append(meta.pull)
            deploys.extend(meta.deploys)
            reach = meta.deploy_reach or reach
    if duplicates:
        skipped[DUPLICATE] += duplicates
        warnings.append(
            f"{duplicates} entries with an insertId already read were dropped "
            "(the first source read is kept)"
        )
    return LogRead(
        frame=frame,
        sources=list(sources),
        skipped=dict(skipped),
        warnings=warnings,
        mapped=dict(mapped),
        pulls=all_pulls,
        deploys=tuple(deploys),
        deploy_reach=reach,
    )


def _expand(patterns_or_paths: Sequence[str]) -> list[str]:
    """The files to read: globs expanded (sorted), plain paths checked, each file once."""
    if not patterns_or_paths:
        raise InputError("no log file given")
    paths: list[str] = []
    seen: set[str] = set()
    for arg in patterns_or_paths:
        if glob.has_magic(arg) and not os.path.exists(arg):
            matches = sorted(p for p in glob.glob(arg) if not os.path.isdir(p))
            if not matches:
                raise InputError("no such file", arg)
        elif os.path.isdir(arg):
            raise InputError("is a directory, not a log file", arg)
        elif not os.path.exists(arg):
            raise InputError("no such file", arg)
        else:
            matches = [arg]
        for path in matches:
            key = os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                paths.append(path)
    return paths


def _entries(path: str, batch: LogBatch) -> Iterator[tuple[str, Any]]:
    """`(source, entry)` pairs of one file read entry by entry (the vectorized reader's twin)."""
    skip, codec, _encoding = sniff(_head(path))
    return _Reading(path, batch, codec, skip).entries()


def entries_of(path: str) -> Iterator[tuple[str, Any]]:
    """`(source, entry)` of every record of one log file as it is written (whole entries, for
    readers of what the LogFrame keeps no column of: the deploys in audit entries)."""
    return _entries(path, LogBatch(label=path))


def is_logentry(value: Any) -> bool:
    """Shaped like a Cloud Logging LogEntry: a timestamp and a payload, a request or a name."""
    return isinstance(value, dict) and "timestamp" in value and not _LOGENTRY_KEYS.isdisjoint(value)


def looks_like(records: Sequence[Any]) -> str:
    """What records that are not LogEntries look like, in a few words, for the error line."""
    objects = [record for record in records if isinstance(record, dict)]
    if not objects:
        kinds = sorted({type(record).__name__ for record in records})
        return f"an array of {' and '.join(kinds)} values"
    first = objects[0]
    if "$report_type" in first:
        return "pytest-reportlog records (give the file as RESULTS, not --logs)"
    if "apiVersion" in first and "kind" in first:
        return f"Kubernetes-style resources (kind {str(first['kind'])[:40]})"
    keys = [str(key)[:40] for key in list(first)[:_SHOWN_KEYS]]
    more = ", ..." if len(first) > _SHOWN_KEYS else ""
    what = "objects" if len(objects) > 1 else "an object"
    return f"{what} with keys {', '.join(keys) or '(none)'}{more}"


class _Reading:
    """One file read entry by entry: decoded by its byte-order mark, its shape told by content
    (a JSON array, NDJSON, one LogEntry object, an object holding LogEntry arrays, a stream of
    pretty-printed objects), the entries yielded with where each was found."""

    def __init__(self, path: str, batch: LogBatch, codec: str, skip: int) -> None:
        self.path = path
        self.batch = batch
        self.codec = codec
        self.skip = skip
        self.shape = NDJSON

    def entries(self) -> Iterator[tuple[str, Any]]:
        data = self._data()
        body = data.lstrip(_SPACE)
        if not body:
            self.shape = "empty file"
            self.batch.warn(f"{self.path}: empty file, no log entries")
            return
        first = body[:1]
        if first == b"[":
            yield from self._array(data)
        elif first == b"{":
            yield from self._object_or_lines(data)
        else:
            raise InputError(
                "not a log file: expected a JSON array (gcloud logging read --format=json), "
                f"NDJSON (one LogEntry per line) or a LogEntry object, found "
                f"{body[:1].decode(errors='replace')!r}",
                self.path,
                1 + data.count(b"\n", 0, len(data) - len(body)),
            )

    def _data(self) -> bytes:
        """The file as UTF-8 bytes, without its byte-order mark."""
        try:
            with open(self.path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", self.path) from exc
        if self.codec == "utf-8":
            return data[self.skip :]
        try:
            return data[self.skip :].decode(self.codec).encode("utf-8")
        except UnicodeDecodeError as exc:
            where = exc.start + self.skip
            raise InputError(f"not {self.codec.upper()} text at byte {where}", self.path) from None

    def _array(self, data: bytes) -> Iterator[tuple[str, Any]]:
        """Elements of a `gcloud logging read --format=json` array, sourced `path#[i]`."""
        entries = self._parse(data, "array")
        if not isinstance(entries, list):
            raise InputError("not a JSON array", self.path)
        self.shape = ARRAY
        if not entries:
            self.batch.warn(f"{self.path}: empty JSON array, no log entries")
            return
        self._require_logentries(entries)
        for index, entry in enumerate(entries, 1):
            yield f"{self.path}#[{index}]", entry

    def _parse(self, data: bytes, kind: str) -> Any:
        try:
            return json_input.loads(data)
        except json.JSONDecodeError as exc:
            if exc.msg == "Extra data":
                raise self._trailing(data.decode(errors="replace"), exc.pos, kind) from None
            message = f"invalid JSON {kind}: {exc.msg}"
            raise InputError(message, self.path, exc.lineno, exc.colno) from None
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text: {exc.reason}", self.path) from None

    def _trailing(self, text: str, pos: int, kind: str) -> InputError:
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        shown = text[pos : pos + 30].split("\n")[0]
        return InputError(
            f"trailing data after the JSON {kind} ends: {shown!r}", self.path, line, column
        )

    def _object_or_lines(self, data: bytes) -> Iterator[tuple[str, Any]]:
        """A file starting with `{`: one JSON object, NDJSON, or pretty-printed objects in a row."""
        try:
            document = json_input.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            first_line = data.lstrip(_SPACE).split(b"\n", 1)[0].strip()
            if not isinstance(exc, json.JSONDecodeError) or _is_json(first_line):
                yield from self._lines(data)
            elif exc.msg == "Extra data":
                yield from self._stream(data.decode(errors="replace"))
            elif first_line == b"{":
                message = f"invalid JSON object: {exc.msg}"
                raise InputError(message, self.path, exc.lineno, exc.colno) from None
            else:
                yield from self._lines(data)
            return
        yield from self._object(document, 1 + data.count(b"\n", 0, len(data) - len(data.lstrip())))

    def _object(self, document: dict[str, Any], line: int) -> Iterator[tuple[str, Any]]:
        """A single LogEntry (an audit sample, an Eventarc event's data), or a collector's
        object whose arrays hold LogEntries (`{"entries": [...]}` as the Logging API's
        entries.list answers, `{"raw_logs": [...]}`, `{"logs_by_severity": {"ERROR": [...]}}`)."""
        if is_logentry(document):
            self.shape = SINGLE
            yield f"{self.path}:{line}", document
            return
        found = list(_logentry_arrays(document, "", 0))
        if not found:
            raise InputError(f"{NO_LOGENTRY}: looks like {looks_like([document])}", self.path)
        places = ", ".join(f"{where} ({len(items)})" for where, items in found)
        self.shape = f"JSON object, LogEntry objects found at {places}"
        for where, items in found:
            for index, entry in enumerate(items, 1):
                yield f"{self.path}#{where}[{index}]", entry

    def _stream(self, text: str) -> Iterator[tuple[str, Any]]:
        """Pretty-printed JSON objects one after another (`jq .` prints a stream so)."""
        decoder = json.JSONDecoder()
        found: list[tuple[int, Any]] = []
        pos = _skip_space(text, 0)
        while pos < len(text):
            try:
                value, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError:
                raise self._trailing(text, pos, "object") from None
            found.append((text.count("\n", 0, pos) + 1, value))
            pos = _skip_space(text, end)
        self.shape = "pretty-printed JSON objects one after another"
        self._require_logentries([value for _, value in found])
        for line, value in found:
            yield f"{self.path}:{line}", value

    def _lines(self, data: bytes) -> Iterator[tuple[str, Any]]:
        """One entry per non-blank line, sourced `path:line`; a bad line is a counted skip."""
        parsed: list[tuple[str, Any]] = []
        for lineno, raw in enumerate(data.split(b"\n"), 1):
            text = raw.strip()
            if not text:
                continue
            try:
                parsed.append((f"{self.path}:{lineno}", json_input.loads(text)))
            except json.JSONDecodeError as exc:
                reason = f"{exc.msg}: column {exc.colno}"
                self.batch.skip(f"{self.path}:{lineno}", INVALID_JSON, f"invalid JSON ({reason})")
            except UnicodeDecodeError as exc:
                detail = f"invalid JSON (not UTF-8: {exc})"
                self.batch.skip(f"{self.path}:{lineno}", INVALID_JSON, detail)
        objects = [entry for _, entry in parsed if isinstance(entry, dict)]
        if not objects:
            raise InputError("no line is a JSON log entry (expected NDJSON)", self.path)
        self._require_logentries(objects)
        self.shape = NDJSON
        yield from parsed

    def _require_logentries(self, records: Sequence[Any]) -> None:
        if not any(is_logentry(record) for record in records):
            raise InputError(f"{NO_LOGENTRY}: looks like {looks_like(records)}", self.path)


def _logentry_arrays(
    value: dict[str, Any], where: str, depth: int
) -> Iterator[tuple[str, list[Any]]]:
    """(dotted key, entries) of the arrays (and single LogEntry values) inside an object."""
    for key, inner in value.items():
        place = f"{where}.{key}" if where else str(key)
        if isinstance(inner, list) and any(is_logentry(item) for item in inner):
            yield place, inner
        elif is_logentry(inner):
            yield place, [inner]
        elif isinstance(inner, dict) and depth < _MAX_DEPTH:
            yield from _logentry_arrays(inner, place, depth + 1)


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _nothing_read(path: str, batch: LogBatch) -> str:
    """`none of its 3 entries could be read (entry 1: invalid timestamp 12345; ...)`."""
    total = sum(batch.skipped.values())
    reasons = []
    for warning in batch.warnings:
        source, marker, detail = warning.partition(": skipped: ")
        if not marker:
            continue
        place = source.removeprefix(path)
        if place.startswith(":"):
            place = f"line {place[1:]}"
        elif place.startswith("#[") and place.endswith("]"):
            place = f"entry {place[2:-1]}"
        else:
            place = place.lstrip("#")
        reasons.append(f"{place}: {detail}")
        if len(reasons) == _SHOWN_REASONS:
            break
    more = "; ..." if total > len(reasons) else ""
    return f"none of its {total} entries could be read ({'; '.join(reasons)}{more})"


def _head(path: str) -> bytes:
    """The first bytes, for the byte-order mark."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from exc


def _first_byte(path: str) -> bytes | None:
    """The first non-space byte, to send NDJSON to the vectorized reader (`fast.py`)."""
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(65536):
                if stripped := chunk.lstrip(_SPACE):
                    return stripped[:1]
    except OSError:
        return None
    return None
