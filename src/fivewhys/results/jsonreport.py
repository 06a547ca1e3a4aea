"""pytest-json-report output into Failures, with times estimated from durations.

The report's ``created`` is written when the session finishes and ``duration`` counts from
session start (pytest-json-report 1.5; checked against a report log of the same run), so the
run spans ``created - duration`` to ``created``. Tests carry only per-phase durations.

With pytest-rerunfailures each phase keeps only its last attempt, and a test's `outcome` is the
last one that was not `passed`: `rerun` for a test that failed, was run again and passed
(plugin.py, `pytest_runtest_logreport`). Such a test is read as flaky, its failed attempt(s) as
one failure with no text, placed in the test's window.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import StrictStr, ValidationError

from fivewhys.errors import InputError
from fivewhys.ids import IdPatterns
from fivewhys.model import Failure
from fivewhys.results.common import (
    CrashLocation,
    Epoch,
    FileResults,
    InputRecord,
    Phase,
    Seconds,
    lay_out,
    make_failure,
    message_from_text,
    section,
    utc_from_epoch,
    validation_reason,
)

_PHASES: tuple[Phase, ...] = ("setup", "call", "teardown")


class _Stage(InputRecord):
    duration: Seconds = 0.0
    outcome: StrictStr
    crash: CrashLocation | None = None
    longrepr: str = ""
    stdout: str = ""
    stderr: str = ""
    log: list[dict[str, Any]] = []


class _Test(InputRecord):
    nodeid: StrictStr
    outcome: StrictStr
    setup: _Stage | None = None
    call: _Stage | None = None
    teardown: _Stage | None = None
    user_properties: list[dict[str, Any]] = []
    metadata: dict[str, Any] | None = None

    def stages(self) -> list[tuple[Phase, _Stage]]:
        return [(phase, stage) for phase in _PHASES if (stage := getattr(self, phase))]


class _Report(InputRecord):
    created: Epoch
    duration: Seconds
    tests: list[Any]
    collectors: list[Any] = []


def read_json_report(path: Path, document: dict[str, Any], *, patterns: IdPatterns) -> FileResults:
    """Every failed phase of every test in the report, in run order."""
    try:
        report = _Report.model_validate(document)
    except ValidationError as exc:
        raise InputError(f"pytest-json-report: {validation_reason(exc)}", path) from None
    result = FileResults(path=path, kind="jsonreport")
    start = utc_from_epoch(report.created - report.duration)
    for n, collector in enumerate(report.collectors):
        if isinstance(collector, dict) and collector.get("outcome") == "failed":
            longrepr = collector.get("longrepr")
            text = longrepr if isinstance(longrepr, str) else ""
            nodeid = str(collector.get("nodeid") or "<collection>")
            result.failures.append(
                make_failure(
                    test_id=nodeid,
                    outcome="error",
                    phase="collect",
                    message=message_from_text(text),
                    details=text,
                    window=(start, start),
                    time_exact=False,
                    source=f"{path}#collectors[{n}]",
                    test_file=nodeid.split("::")[0],
                    test_line=None,
                    properties={},
                    patterns=patterns,
                )
            )
    tests: list[tuple[int, _Test]] = []
    for n, raw in enumerate(report.tests):
        try:
            tests.append((n, _Test.model_validate(raw)))
        except ValidationError as exc:
            result.warnings.append(f"{path}#tests[{n}]: skipped: {validation_reason(exc)}")
    end = utc_from_epoch(report.created)
    durations = [sum(stage.duration for _, stage in test.stages()) for _, test in tests]
    layout = lay_out(str(path), start, report.duration, durations)
    result.span = (start, end)
    for index, (n, test) in enumerate(tests):
        result.ran(test.nodeid, *layout.window(index, durations[index]))
        if test.outcome == "rerun":
            result.failures.append(
                _lost_attempts(path, n, test, layout.window(index, durations[index]), patterns)
            )
            result.ran(test.nodeid, *layout.window(index, durations[index]), 2)
        properties = _properties(test)
        elapsed = 0.0
        captured: list[str] = []
        for phase, stage in test.stages():
            elapsed += stage.duration
            captured += _captured(phase, stage)
            if stage.outcome != "failed":
                continue
            message = stage.crash.message if stage.crash else message_from_text(stage.longrepr)
            result.failures.append(
                make_failure(
                    test_id=test.nodeid,
                    outcome="failed" if phase == "call" else "error",
                    phase=phase,
                    message=message,
                    details="\n".join([stage.longrepr, *captured]),
                    window=layout.window(index, elapsed),
                    time_exact=False,
                    source=f"{path}#tests[{n}]",
                    # `lineno` is of the code's file, which the report does not name: for a
                    # test wrapped by a decorator from another module it is that module's
                    test_file=test.nodeid.split("::")[0],
                    test_line=None,
                    properties=properties,
                    patterns=patterns,
                )
            )
    if result.failures:
        result.notes.append(layout.note)
        if layout.warning:
            result.warnings.append(layout.warning)
    return result


def _lost_attempts(
    path: Path, n: int, test: _Test, window: tuple[datetime, datetime], patterns: IdPatterns
) -> Failure:
    """The failed attempts of a test that passed on a rerun: the report kept none of them."""
    return make_failure(
        test_id=test.nodeid,
        outcome="failed",
        phase="call",
        message=(
            "failed attempt(s): pytest-rerunfailures ran the test again and it passed; "
            "pytest-json-report keeps only the last attempt (the report log keeps each: "
            "--report-log)"
        ),
        details="",
        window=window,
        time_exact=False,
        source=f"{path}#tests[{n}]",
        test_file=test.nodeid.split("::")[0],
        test_line=None,
        properties=_properties(test),
        patterns=patterns,
    )


def _properties(test: _Test) -> dict[str, str]:
    """user_properties (``[{name: value}]``), plus the scalar entries of json_metadata."""
    properties = {
        str(name): str(value)
        for name, value in (test.metadata or {}).items()
        if isinstance(value, str | int | float)
    }
    for entry in test.user_properties:
        properties.update((str(name), str(value)) for name, value in entry.items())
    return properties


def _captured(phase: Phase, stage: _Stage) -> list[str]:
    """A phase's captured output, titled as pytest titles it."""
    out = [
        section(f"Captured {name} {phase}", text)
        for name, text in (("stdout", stage.stdout), ("stderr", stage.stderr))
        if text
    ]
    if stage.log:
        records = (
            f"{record.get('levelname', '')} {record.get('name', '')}: {record.get('msg', '')}"
            for record in stage.log
        )
        out.append(section(f"Captured log {phase}", "\n".join(records)))
    return out
