"""pytest-reportlog JSON lines into Failures, with the exact start and stop of every phase.

One broken line does not spoil a run: it is skipped with a warning naming its line.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import Field, Strict, StrictStr, ValidationError

from fivewhys import json_input
from fivewhys.ids import IdPatterns
from fivewhys.model import Failure
from fivewhys.results.common import (
    EPOCH_MAX,
    UNPLACED,
    CrashLocation,
    Epoch,
    FileResults,
    InputRecord,
    Phase,
    make_failure,
    message_from_text,
    newest_time,
    section,
    utc_from_epoch,
    validation_reason,
)


class _FuncArgs(InputRecord):
    args: list[tuple[str, str]] = []


class _Locals(InputRecord):
    lines: list[str] = []


class _EntryData(InputRecord):
    lines: list[str] = []
    reprfuncargs: _FuncArgs | None = None
    reprlocals: _Locals | None = None
    reprfileloc: CrashLocation | None = None
    style: str = "long"


class _Entry(InputRecord):
    data: _EntryData


class _Traceback(InputRecord):
    reprentries: list[_Entry] = []


class _Longrepr(InputRecord):
    """pytest's serialized ExceptionChainRepr."""

    reprcrash: CrashLocation | None = None
    reprtraceback: _Traceback | None = None
    chain: list[tuple[_Traceback, CrashLocation | None, str | None]] | None = None


#: outcomes of a failed phase: pytest-rerunfailures marks a failed attempt it runs again
#: `rerun` (its `pytest_runtest_makereport` sets `report.outcome = "rerun"`)
_FAILING = ("failed", "rerun")


#: the most reruns a report may count
_RERUN_MAX = 100_000


class _Outline(InputRecord):
    """What every test report is read for: which test, which phase, how it went, when."""

    nodeid: StrictStr
    when: Literal["setup", "call", "teardown"]
    outcome: StrictStr
    start: Epoch
    stop: Epoch
    #: pytest-rerunfailures' attempt counter (0 the first run), on every report it sees
    rerun: Annotated[int, Strict(), Field(ge=0, le=_RERUN_MAX)] | None = None


class _TestReport(_Outline):
    """A failed phase's report, whole (passing ones are only outlined: most of a big run)."""

    #: a list ``[path, lineno, reason]`` for a skip
    longrepr: _Longrepr | str | list[Any] | None = None
    sections: list[tuple[str, str]] = []
    user_properties: list[tuple[str, Any]] = []
    location: tuple[str, int | None, str] | None = None


def read_reportlog(
    path: Path, text: str, *, patterns: IdPatterns, started_at: datetime | None = None
) -> FileResults:
    """Every failed phase in a report log; tests counted by distinct node id. Modules that
    failed to collect and an internal error (exit status 3) are errors of the run."""
    result = FileResults(path=path, kind="reportlog")
    run_errors: list[tuple[str, str, str, Phase]] = []
    setup_start: dict[tuple[str, int], float] = {}
    setups: dict[str, int] = {}
    #: attempts whose teardown was not reported yet, with where their setup was
    running: dict[tuple[str, int], str] = {}
    #: per test, the captured sections of its latest failed report and that report's attempt
    captured: dict[str, tuple[int, list[tuple[str, str]]]] = {}
    #: per (test, attempt), in the order first seen: its first phase's start, last one's end
    spans: dict[tuple[str, int], tuple[float, float]] = {}
    finished = False
    first: float | None = None
    last: float | None = None
    name = str(path)
    # split on newlines only: str.splitlines() also breaks at characters JSON may hold raw
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{name}:{lineno}"
        try:
            record = json_input.loads(line)
        except json.JSONDecodeError as exc:
            result.warnings.append(f"{where}: skipped: not JSON ({exc.msg})")
            continue
        kind = record.get("$report_type") if isinstance(record, dict) else None
        if not isinstance(kind, str):
            result.warnings.append(f"{where}: skipped: not a report-log record")
            continue
        if kind != "TestReport":
            if kind == "CollectReport" and record.get("outcome") == "failed":
                text_of = _longrepr_text(_collect_longrepr(record.get("longrepr")))
                run_errors.append(
                    (where, str(record.get("nodeid") or "<collection>"), text_of, "collect")
                )
            if kind == "SessionFinish":
                finished = True
                if record.get("exitstatus") in _PYTEST_FAULTS:
                    status = record["exitstatus"]
                    message = f"pytest exited with status {status} ({_PYTEST_FAULTS[status]})"
                    run_errors.append((where, "pytest::session", message, "session"))
            continue
        if record.get("when") == _CRASHED:
            crash = _crashed(record, where, setup_start, running, patterns)
            if crash is None:
                result.warnings.append(f"{where}: skipped: a worker crash record without a nodeid")
            else:
                result.failures.append(crash)
            continue
        try:
            seen = _seen(record)
            report = _TestReport.model_validate(record) if seen.outcome in _FAILING else None
        except ValidationError as exc:
            result.warnings.append(f"{where}: skipped: {validation_reason(exc)}")
            continue
        if seen.when == "setup":
            setups[seen.nodeid] = setups.get(seen.nodeid, 0) + 1
        # the counter when rerunfailures wrote one, else the setups seen of the test so far
        attempt = seen.rerun + 1 if seen.rerun is not None else setups.get(seen.nodeid, 1)
        key = (seen.nodeid, attempt)
        # conditionals, not min and max: three calls per record of a big run
        span = spans.get(key)
        if span is None:
            spans[key] = (seen.start, seen.stop)
        elif seen.start < span[0] or seen.stop > span[1]:
            spans[key] = (
                seen.start if seen.start < span[0] else span[0],
                seen.stop if seen.stop > span[1] else span[1],
            )
        if first is None or seen.start < first:
            first = seen.start
        if last is None or seen.stop > last:
            last = seen.stop
        if seen.when == "setup":
            setup_start[key] = seen.start
            running[key] = where
        if seen.when == "teardown" or seen.outcome in _FAILING:
            running.pop(key, None)
        if report is not None:
            report = _own_sections(report, attempt, captured)
            started = setup_start.get(key, seen.start)
            result.failures.append(_failure(report, started, where, patterns, attempt))
    # times are kept as read and made datetimes once per attempt (the earliest and latest are
    # the same either way: utc_from_epoch keeps the order)
    for (nodeid, attempt), (began, ended) in spans.items():
        result.ran(nodeid, utc_from_epoch(began), utc_from_epoch(ended), attempt)
    if first is not None and last is not None:
        result.span = (utc_from_epoch(first), utc_from_epoch(last))
    if not finished and last is not None:
        for (nodeid, attempt), where in running.items():
            result.failures.append(
                _killed(nodeid, attempt, setup_start[(nodeid, attempt)], last, where, patterns)
            )
            result.warnings.append(
                f"{where}: {nodeid} was still running when the report log ends (no call or "
                "teardown report, no session end): pytest was killed, by pytest-timeout's "
                "thread method or the job's own limit; its window ends at the file's last "
                "time, so widen --after to reach the kill"
            )
    if run_errors:
        start, placed = _run_start(path, first, started_at, text, result)
        for where, nodeid, text_of, phase in run_errors:
            result.failures.append(
                make_failure(
                    test_id=nodeid,
                    outcome="error",
                    phase=phase,
                    message=message_from_text(text_of),
                    details=text_of,
                    window=(start, start),
                    time_exact=False,
                    placed=placed,
                    source=where,
                    test_file=nodeid.split("::")[0] if phase == "collect" else None,
                    test_line=None,
                    properties={},
                    patterns=patterns,
                )
            )
    return result


class _Seen(NamedTuple):
    """The outline of one test report (`_Outline`'s fields)."""

    nodeid: str
    when: str
    outcome: str
    start: float
    stop: float
    rerun: int | None


_PHASES = ("setup", "call", "teardown")


def _seen(record: dict[str, Any]) -> _Seen:
    """`_Outline.model_validate(record)`'s fields; read as they are when they already are what
    the model would hold (a big run's passing reports, where a model per report costs a third
    of reading the file), else validated by it (raising its ValidationError)."""
    nodeid, when, outcome = record.get("nodeid"), record.get("when"), record.get("outcome")
    start, stop, rerun = record.get("start"), record.get("stop"), record.get("rerun")
    if (
        type(nodeid) is str
        and type(when) is str
        and when in _PHASES
        and type(outcome) is str
        and type(start) is float
        and type(stop) is float
        and 0 <= start <= EPOCH_MAX
        and 0 <= stop <= EPOCH_MAX
        and (rerun is None or (type(rerun) is int and 0 <= rerun <= _RERUN_MAX))
    ):
        return _Seen(nodeid, when, outcome, start, stop, rerun)
    outline = _Outline.model_validate(record)
    return _Seen(
        outline.nodeid, outline.when, outline.outcome, outline.start, outline.stop, outline.rerun
    )


def _own_sections(
    report: _TestReport, attempt: int, captured: dict[str, tuple[int, list[tuple[str, str]]]]
) -> _TestReport:
    """The report with only its own attempt's output: pytest keeps appending a rerun test's
    captured sections (pytest-rerunfailures does not clear them), so a rerun's report also
    holds the output, and the ids, of every attempt before it."""
    sections = list(report.sections)
    earlier = captured.get(report.nodeid)
    captured[report.nodeid] = (attempt, sections)
    if earlier is None or earlier[0] >= attempt:
        return report
    before = earlier[1]
    if sections[: len(before)] != before:
        return report
    return report.model_copy(update={"sections": sections[len(before) :]})


#: pytest exit statuses that mean pytest itself failed, not a test (pytest's ExitCode)
_PYTEST_FAULTS = {3: "internal error", 4: "usage error"}


def _collect_longrepr(value: Any) -> _Longrepr | str | None:
    """A collection report's longrepr: a string (an import error), or a serialized traceback."""
    if isinstance(value, dict):
        try:
            return _Longrepr.model_validate(value)
        except ValidationError:
            return None
    return value if isinstance(value, str) else None


def _run_start(
    path: Path, first: float | None, given: datetime | None, text: str, result: FileResults
) -> tuple[datetime, bool]:
    """Where the run's own errors go: its first test's start, else --started-at, else the
    newest time the file writes; a report log of collection errors only has no time at all."""
    if first is not None:
        return utc_from_epoch(first), True
    if given is not None:
        result.notes.append(f"{path}: no test ran; the run's errors are placed at --started-at")
        return given.astimezone(UTC), True
    newest = newest_time(text, None)
    if newest is not None:
        result.notes.append(
            f"{path}: no test ran; the run's errors are placed at {newest.isoformat()}, the "
            "newest time written in the file"
        )
        return newest, True
    result.warnings.append(
        f"{path}: no test ran and the report log holds no time: the run's errors are listed "
        "unplaced, with no log joined; pass --started-at with the run's start"
    )
    return UNPLACED, False


#: the phase pytest-xdist's controller writes when a worker died mid-test
#: (dsession.handle_crashitem: a TestReport with when "???", start and stop 0)
_CRASHED = "???"


def _crashed(
    record: dict[str, Any],
    where: str,
    setup_start: dict[tuple[str, int], float],
    running: dict[tuple[str, int], str],
    patterns: IdPatterns,
) -> Failure | None:
    """A test whose worker died (os._exit, a segfault, the OOM killer): the controller's own
    record has no times, so the window is the test's setup start, if its setup was reported."""
    nodeid = record.get("nodeid")
    if not isinstance(nodeid, str) or not nodeid:
        return None
    attempts = [key for key in running if key[0] == nodeid]
    key = max(attempts) if attempts else None
    if key is not None:
        running.pop(key)
    longrepr = record.get("longrepr")
    text = longrepr if isinstance(longrepr, str) else f"worker crashed while running {nodeid!r}"
    start = utc_from_epoch(setup_start[key]) if key is not None else UNPLACED
    return make_failure(
        test_id=nodeid,
        outcome="failed",
        phase="call",
        message=message_from_text(text),
        details=text,
        window=(start, start),
        time_exact=False,
        placed=key is not None,
        source=where,
        test_file=nodeid.split("::")[0],
        test_line=None,
        properties={},
        patterns=patterns,
        attempt=key[1] if key is not None else 1,
    )


def _killed(
    nodeid: str, attempt: int, started: float, last: float, source: str, patterns: IdPatterns
) -> Failure:
    """A test the run ended in: pytest-timeout's thread method dumps the stacks to the terminal
    and ends the process (os._exit), so no report of its call is ever written."""
    return make_failure(
        test_id=nodeid,
        outcome="failed",
        phase="call",
        message=(
            "Timeout: pytest was killed while this test ran (its call was never reported: "
            "pytest-timeout's thread method, or the job's own time limit)"
        ),
        details="",
        window=(utc_from_epoch(started), utc_from_epoch(last)),
        time_exact=False,
        source=source,
        test_file=nodeid.split("::")[0],
        test_line=None,
        properties={},
        patterns=patterns,
        attempt=attempt,
    )


def _failure(
    report: _TestReport, started: float, source: str, patterns: IdPatterns, attempt: int
) -> Failure:
    longrepr = report.longrepr
    if isinstance(longrepr, _Longrepr) and longrepr.reprcrash:
        message = longrepr.reprcrash.message
    else:
        message = message_from_text(_longrepr_text(longrepr))
    details = "\n".join(
        [_longrepr_text(longrepr), *(section(title, body) for title, body in report.sections)]
    )
    location = report.location
    return make_failure(
        test_id=report.nodeid,
        outcome="failed" if report.when == "call" else "error",
        phase=report.when,
        message=message,
        details=details,
        window=(utc_from_epoch(started), utc_from_epoch(report.stop)),
        time_exact=True,
        source=source,
        test_file=location[0] if location else None,
        test_line=location[1] + 1 if location and location[1] is not None else None,
        properties={name: str(value) for name, value in report.user_properties},
        patterns=patterns,
        attempt=attempt,
    )


def _longrepr_text(longrepr: _Longrepr | str | list[Any] | None) -> str:
    """The traceback as pytest prints it: each entry's arguments, source lines and location,
    chained exceptions joined by their descriptions."""
    if not isinstance(longrepr, _Longrepr):
        return longrepr if isinstance(longrepr, str) else ""
    chain = longrepr.chain
    if chain is None:
        chain = [(longrepr.reprtraceback, None, None)] if longrepr.reprtraceback else []
    lines: list[str] = []
    for traceback, _crash, description in chain:
        for entry in traceback.reprentries:
            data = entry.data
            loc = data.reprfileloc
            where = [f"{loc.path}:{loc.lineno}: {loc.message}"] if loc else []
            if data.style == "short":
                lines += where
            if data.reprfuncargs:
                lines += [f"{name} = {value}" for name, value in data.reprfuncargs.args]
            lines += data.lines
            if data.reprlocals:
                lines += data.reprlocals.lines
            if data.style != "short":
                lines += where
        if description:
            lines += ["", description, ""]
    return "\n".join(lines)
