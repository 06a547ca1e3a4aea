"""Log files as a LogFrame: `gcloud logging read --format=json` arrays, NDJSON sink files, and
the Parquet bundles `fivewhys pull` writes.

The format is told by content, not by name: a file starting with the Parquet magic `PAR1` is a
bundle (see `bundle.py`), a file whose first non-space character is `[` is a JSON array (newest
first), `{` starts NDJSON (one entry per line, oldest first). Problems with a whole file are
`InputError`s; problems with one entry are counted skips with a warning.
"""

from __future__ import annotations

import glob
import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import polars as pl

from fivewhys import json_input
from fivewhys.errors import InputError
from fivewhys.ids import DEFAULT_PATTERNS, IdPatterns
from fivewhys.logs.bundle import BundleMeta, is_parquet, read_bundle
from fivewhys.logs.entry import (
    DUPLICATE,
    INVALID_JSON,
    LogBatch,
    build_frame,
    first_per_insert_id,
    normalize_entries,
)
from fivewhys.logs.fast import read_ndjson
from fivewhys.model import PullInfo

__all__ = ["LogRead", "collect", "normalize_entries", "read_log_files"]

_BOM = b"\xef\xbb\xbf"
_SPACE = b" \t\r\n"


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


def read_log_files(
    patterns_or_paths: Sequence[str], *, id_patterns: IdPatterns = DEFAULT_PATTERNS
) -> LogRead:
    """Read every file named or matched (globs expanded, sorted), in order, into one LogFrame.

    Raises `InputError` for a missing file, a glob matching nothing, a directory, an unreadable
    file, a malformed JSON array, or a file in which no line is a JSON log entry.
    """
    paths = _expand(patterns_or_paths)
    batches: list[LogBatch] = []
    bundles: list[tuple[pl.DataFrame, BundleMeta]] = []
    sources: list[str] = []
    for path in paths:
        if is_parquet(path):
            frame, meta = read_bundle(path)
            bundles.append((frame, meta))
            sources.extend(meta.sources)
            continue
        batch = LogBatch(label=path)
        if _first_byte(path) != b"{" or not read_ndjson(path, batch, id_patterns):
            normalize_entries(_entries(path, batch), id_patterns=id_patterns, batch=batch)
        batches.append(batch)
        sources.append(path)
    return collect(batches, sources, bundles)


def collect(
    batches: Sequence[LogBatch],
    sources: Sequence[str],
    bundles: Sequence[tuple[pl.DataFrame, BundleMeta]] = (),
    pulls: Sequence[PullInfo] = (),
) -> LogRead:
    """One LogRead from normalized batches and bundles read back (rows of batches come first,
    so for a repeated insertId the batch's row is kept), with their accounts merged."""
    frame, duplicates = build_frame(batches)
    skipped: Counter[str] = Counter()
    mapped: Counter[str] = Counter()
    warnings: list[str] = []
    for batch in batches:
        skipped.update(batch.skipped)
        mapped.update(batch.mapped)
        warnings.extend(batch.warnings)
    all_pulls = list(pulls)
    if bundles:
        merged = pl.concat([frame, *(rows for rows, _ in bundles)], how="vertical")
        unique = first_per_insert_id(merged)
        frame = unique.sort("timestamp", "insert_id")
        duplicates += merged.height - unique.height
        for _, meta in bundles:
            skipped.update(meta.skipped)
            mapped.update(meta.mapped)
            warnings.extend(meta.warnings)
            all_pulls.append(meta.pull)
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
    """`(source, entry)` pairs of one file; bad NDJSON lines are skipped into `batch`."""
    try:
        handle = open(path, "rb")  # closed by the `with` below
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from exc
    with handle:
        first, line = _first_char(handle, path)
        if first is None:
            batch.warn(f"{path}: empty file, no log entries")
            return
        if first == b"[":
            yield from _array(handle, path, batch)
        elif first == b"{":
            yield from _ndjson(handle, path, batch)
        else:
            raise InputError(
                "not a log file: expected a JSON array (gcloud logging read --format=json) "
                f"or NDJSON (one LogEntry per line), found {first.decode(errors='replace')!r}",
                path,
                line,
            )


def _first_byte(path: str) -> bytes | None:
    """The first non-space byte, to send NDJSON to the vectorized reader (`fast.py`); None when
    the file cannot be opened (`_entries` then says why)."""
    try:
        handle = open(path, "rb")  # closed by the `with` below
    except OSError:
        return None
    with handle:
        return _first_char(handle, path)[0]


def _first_char(handle: BinaryIO, path: str) -> tuple[bytes | None, int]:
    """The first non-space byte (after a BOM) and its line; the handle is rewound."""
    line = 1
    start = True
    try:
        while chunk := handle.read(65536):
            if start and chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
            start = False
            stripped = chunk.lstrip(_SPACE)
            line += chunk.count(b"\n", 0, len(chunk) - len(stripped))
            if stripped:
                handle.seek(0)
                return stripped[:1], line
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from exc
    return None, line


def _array(handle: BinaryIO, path: str, batch: LogBatch) -> Iterator[tuple[str, Any]]:
    """Elements of a `gcloud logging read --format=json` array, sourced `path#[i]` (1-based)."""
    try:
        data = handle.read()
        entries = json_input.loads(data[len(_BOM) :] if data.startswith(_BOM) else data)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON array: {exc.msg}", path, exc.lineno, exc.colno) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc.reason}", path) from exc
    if not isinstance(entries, list):  # a BOM or odd spacing can still get here
        raise InputError("not a JSON array", path)
    if not entries:
        batch.warn(f"{path}: empty JSON array, no log entries")
    for index, entry in enumerate(entries, 1):
        yield f"{path}#[{index}]", entry


def _ndjson(handle: BinaryIO, path: str, batch: LogBatch) -> Iterator[tuple[str, Any]]:
    """One entry per non-blank line, sourced `path:line`; a bad line is a counted skip."""
    entries = 0
    first_line: bytes | None = None
    try:
        for lineno, raw in enumerate(handle, 1):
            text = raw.strip()
            if not text:
                continue
            if first_line is None:
                first_line = text.lstrip(_BOM)
                text = first_line
            try:
                entry = json_input.loads(text)
            except json.JSONDecodeError as exc:
                reason = f"{exc.msg}: column {exc.colno}"
                batch.skip(f"{path}:{lineno}", INVALID_JSON, f"invalid JSON ({reason})")
                continue
            except UnicodeDecodeError as exc:
                batch.skip(f"{path}:{lineno}", INVALID_JSON, f"invalid JSON (not UTF-8: {exc})")
                continue
            entries += isinstance(entry, dict)
            yield f"{path}:{lineno}", entry
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from exc
    if not entries:
        if first_line == b"{":
            raise InputError(
                "a pretty-printed JSON object, not NDJSON: expected one LogEntry per line "
                "(e.g. `jq -c`) or a JSON array (gcloud logging read --format=json)",
                path,
                1,
            )
        raise InputError("no line is a JSON log entry (expected NDJSON)", path)
