"""Reading one results file: which format it is, told by its content, never its name."""

from __future__ import annotations

import json
from datetime import tzinfo
from pathlib import Path

from fivewhys import json_input
from fivewhys.errors import InputError
from fivewhys.ids import IdPatterns
from fivewhys.results.common import NOT_RESULTS, FileResults
from fivewhys.results.jsonreport import read_json_report
from fivewhys.results.junit import read_junit
from fivewhys.results.reportlog import read_reportlog

_BOM = b"\xef\xbb\xbf"


def read_file(path: Path, *, tz: tzinfo | None, patterns: IdPatterns) -> FileResults:
    """The failures in one JUnit XML, pytest-reportlog or pytest-json-report file."""
    data = _read_bytes(path)
    head = data.removeprefix(_BOM).lstrip()
    if not head:
        raise InputError(f"empty file: {NOT_RESULTS}", path)
    if head.startswith(b"<"):
        return read_junit(path, data, tz=tz, patterns=patterns)
    if not head.startswith(b"{"):
        raise InputError(NOT_RESULTS, path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start}): {NOT_RESULTS}", path) from None
    try:
        document = json_input.loads(text)
    except json.JSONDecodeError:
        document = None  # JSON lines, or a broken file: the first line decides
    if (
        isinstance(document, dict)
        and "tests" in document
        and ("created" in document or "summary" in document)
    ):
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
        return read_reportlog(path, text, patterns=patterns)
    raise InputError(NOT_RESULTS, path)


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
