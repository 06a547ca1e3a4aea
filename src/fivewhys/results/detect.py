"""Reading one results file: which format it is, told by its content, never its name."""

from __future__ import annotations

import codecs
import json
from datetime import datetime, tzinfo
from pathlib import Path

from fivewhys import json_input
from fivewhys.encoding import decode, is_wide, sniff
from fivewhys.errors import InputError
from fivewhys.ids import IdPatterns
from fivewhys.results.common import NOT_RESULTS, FileResults


def read_file(
    path: Path, *, tz: tzinfo | None, patterns: IdPatterns, started_at: datetime | None = None
) -> FileResults:
    """The failures in one JUnit XML, pytest-reportlog or pytest-json-report file."""
    original = data = _read_bytes(path)
    encoding = sniff(data[:4])[2]
    if is_wide(encoding):  # a redirect on Windows: JSON is read as UTF-8 text from here on
        try:
            data = decode(data)[0].encode("utf-8")
        except UnicodeDecodeError as exc:
            message = f"not {encoding} text (byte {exc.start}): {NOT_RESULTS}"
            raise InputError(message, path) from None
    head = data.removeprefix(codecs.BOM_UTF8).lstrip()
    if not head:
        raise InputError(f"empty file: {NOT_RESULTS}", path)
    # each reader is imported when a file is of its kind: a run gives one kind, mostly
    if head.startswith(b"<"):  # the XML parser reads every encoding by its mark itself
        from fivewhys.results.junit import read_junit

        return read_junit(path, original, tz=tz, patterns=patterns, started_at=started_at)
    if not head.startswith(b"{"):
        raise InputError(NOT_RESULTS, path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start}): {NOT_RESULTS}", path) from None
    trailing: json.JSONDecodeError | None = None
    try:
        document = json_input.loads(text)
    except json.JSONDecodeError as exc:
        document = None  # JSON lines, or a broken file: the first line decides
        trailing = exc if exc.msg == "Extra data" else None
    if _is_json_report(document):
        assert isinstance(document, dict)
        from fivewhys.results.jsonreport import read_json_report

        return read_json_report(path, document, patterns=patterns)
    if isinstance(document, dict) and "summary" in document and "created" in document:
        raise InputError(
            "a pytest-json-report without tests (written with --json-report-summary?): "
            "it names no failed test",
            path,
        )
    first_line = next(line for line in text.splitlines() if line.strip())
    try:
        first = json_input.loads(first_line)
    except json.JSONDecodeError:
        first = None
    if isinstance(first, dict) and "$report_type" in first:
        from fivewhys.results.reportlog import read_reportlog

        return read_reportlog(path, text, patterns=patterns, started_at=started_at)
    if trailing is not None and (
        first is None or _is_json_report(json.loads(text[: trailing.pos]))
    ):
        shown = text[trailing.pos : trailing.pos + 30].split("\n")[0]
        raise InputError(
            f"trailing data after the JSON document ends: {shown!r}",
            path,
            trailing.lineno,
            trailing.colno,
        )
    raise InputError(NOT_RESULTS, path)


def _is_json_report(document: object) -> bool:
    return (
        isinstance(document, dict)
        and "tests" in document
        and ("created" in document or "summary" in document)
    )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise InputError("is a directory, not a results file", path) from None
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except PermissionError:
        raise InputError("cannot read: permission denied", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None
