"""JUnit XML (pytest xunit1/xunit2 and alike) into Failures, with times estimated from durations.

JUnit gives each suite's start and length and each test's duration, not when a test ran, so
windows are estimates (`time_exact=False`) and the file gets a note saying so. pytest before 5.1
wrote no suite `timestamp` (pytest-dev/pytest#5471): such a run is placed by `--started-at`,
else to end at the newest time written in the file, else its failures are listed unplaced.
A module that failed to import and pytest's own internal error are failures of the run, placed
at its start.

Reruns come in two shapes. pytest with pytest-rerunfailures (16.6.1 and later) writes one
`<testcase>` per attempt and nothing inside a failed attempt's (pytest's junitxml ignores the
`rerun` outcome; pytest-rerunfailures#170): a childless testcase followed by one of the same test
is a failed attempt whose text is lost. Maven Surefire (and tools following it) writes one
testcase with `<flakyFailure>`/`<flakyError>` per failed attempt of a test that passed, or
`<failure>`/`<error>` then `<rerunFailure>`/`<rerunError>` per rerun of one that never did, each
with `message`, `type`, a `<stackTrace>` and its own `<system-out>`/`<system-err>`
(maven-surefire-plugin/src/site/resources/xsd/surefire-test-report.xsd).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

from fivewhys.errors import InputError
from fivewhys.ids import DEFAULT_PATTERNS, IdPatterns
from fivewhys.model import Failure
from fivewhys.results.common import (
    NOT_RESULTS,
    UNPLACED,
    FileResults,
    Outcome,
    Phase,
    in_range,
    lay_out,
    make_failure,
    message_from_text,
    newest_time,
    plausible_seconds,
    recorded_window,
)

_TESTCASE_TAG = re.compile(rb"<testcase[\s/>]")
_PHASE_WRAPPER = re.compile(r'failed on (setup|teardown) with "')
_POSITION_SUFFIX = re.compile(r": line \d+, column \d+$")


#: `<error message>` (older pytest: `<failure message>`) of a module that could not be collected
_COLLECTION = "collection failure"
#: pytest's own crash: `<testcase classname="pytest" name="internal"><error message=...>`
_INTERNAL = "internal error"


def read_junit(
    path: Path,
    data: bytes,
    *,
    tz: tzinfo | None,
    patterns: IdPatterns,
    started_at: datetime | None = None,
) -> FileResults:
    """Every failure and error of every testsuite in a JUnit XML document."""
    root = _parse(path, data)
    if root.tag not in ("testsuites", "testsuite"):
        raise InputError(NOT_RESULTS, path)
    result = FileResults(path=path, kind="junit")
    cases = list(root.iter("testcase"))
    lines = _testcase_lines(data, len(cases))
    sources = {
        id(case): f"{path}:{lines[n]}" if lines else f"{path}#testcase[{n + 1}]"
        for n, case in enumerate(cases)
    }
    hint = _TimeHint(root, tz)
    for suite in root.iter("testsuite"):
        _read_suite(suite, result, sources, tz, patterns, _Start(started_at, hint))
    return result


class _TimeHint:
    """The newest time written anywhere in the document (output, messages, properties), found
    once when a suite without a timestamp needs it."""

    def __init__(self, root: Element, tz: tzinfo | None) -> None:
        self.root = root
        self.tz = tz
        self._found: tuple[datetime | None] | None = None

    def newest(self) -> datetime | None:
        if self._found is None:
            values = [p.get("value", "") for p in self.root.iter("property")]
            self._found = (newest_time(" ".join([*self.root.itertext(), *values]), self.tz),)
        return self._found[0]


class _Start:
    """What places a suite written without a timestamp: --started-at, else the file's hint."""

    def __init__(self, given: datetime | None, hint: _TimeHint) -> None:
        self.given = given
        self.hint = hint


def _parse(path: Path, data: bytes) -> Element:
    try:
        return SafeET.fromstring(data)
    except defusedxml.EntitiesForbidden:
        reason = "it declares entities (entity expansion and external entities are not read)"
    except defusedxml.ExternalReferenceForbidden:
        reason = "it references an external DTD or entity"
    except defusedxml.DefusedXmlException as exc:
        reason = type(exc).__name__
    except ParseError as exc:
        message = _POSITION_SUFFIX.sub("", str(exc))
        raise InputError(f"malformed XML: {message}", path, exc.position[0]) from None
    raise InputError(f"XML refused for safety: {reason}", path)


def _testcase_lines(data: bytes, expected: int) -> list[int] | None:
    """Line of each ``<testcase`` tag, in document order; None if the scan disagrees with the
    parser (a tag inside a comment or CDATA, a UTF-16 file)."""
    positions = [m.start() for m in _TESTCASE_TAG.finditer(data)]
    if len(positions) != expected:
        return None
    lines: list[int] = []
    line, last = 1, 0
    for position in positions:
        line += data.count(b"\n", last, position)
        last = position
        lines.append(line)
    return lines


def _suite_start(
    path: Path,
    suite: Element,
    tz: tzinfo | None,
    result: FileResults,
    how: _Start,
    length: float,
) -> tuple[datetime, bool]:
    """The suite's start (UTC), and whether it is placed in time at all."""
    raw = suite.get("timestamp")
    name = suite.get("name", "")
    if not raw:
        missing = f"{path}: testsuite {name!r} has no timestamp (pytest before 5.1 wrote none)"
        if how.given is not None:
            result.notes.append(
                f"{missing}: the run is placed to start at --started-at {_iso(how.given)}"
            )
            return how.given.astimezone(UTC), True
        newest = how.hint.newest()
        if newest is not None:
            result.notes.append(
                f"{missing}: the run is placed to end at {_iso(newest)}, the newest time written "
                "in the file; pass --started-at to place it exactly"
            )
            return newest - timedelta(seconds=length), True
        result.warnings.append(
            f"{missing} and the file holds no time: its failures are listed unplaced, with no "
            "log joined; pass --started-at with the run's start"
        )
        return UNPLACED, False
    try:
        start = datetime.fromisoformat(raw)
    except ValueError:
        raise InputError(
            f"testsuite {name!r} timestamp {raw!r} is not an ISO 8601 time", path
        ) from None
    if start.tzinfo is None:
        if tz is None:
            result.warnings.append(
                f"{path}: testsuite {name!r} timestamp {raw} has no UTC offset and was read as "
                "UTC; pass --tz with the time zone of the machine that ran the tests"
            )
        start = start.replace(tzinfo=tz or UTC)
    try:
        start = start.astimezone(UTC)
    except OverflowError:
        pass  # a time at the edge of the calendar, refused below
    if start.tzinfo is not UTC or not in_range(start):
        raise InputError(
            f"testsuite {name!r} timestamp {raw!r} is not a time of a test run (1970 to 3000)", path
        )
    return start, True


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _seconds(element: Element, source: str, result: FileResults) -> float | None:
    raw = element.get("time")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        result.warnings.append(f"{source}: time {raw[:40]!r} is not a number; taken as 0")
        return None
    if not plausible_seconds(seconds):
        result.warnings.append(f"{source}: time {raw[:40]!r} is not a duration; taken as 0")
        return None
    return seconds


def _read_suite(
    suite: Element,
    result: FileResults,
    sources: dict[int, str],
    tz: tzinfo | None,
    patterns: IdPatterns,
    how: _Start,
) -> None:
    path = result.path
    cases = suite.findall("testcase")
    durations = [_seconds(case, sources[id(case)], result) or 0.0 for case in cases]
    wall = _seconds(suite, f"{path}: testsuite {suite.get('name', '')!r}", result)
    start, placed_run = _suite_start(
        path, suite, tz, result, how, sum(durations) if wall is None else wall
    )
    layout = lay_out(str(path), start, wall, durations)
    span = (start, start + timedelta(seconds=sum(durations) if wall is None else wall))
    if result.span:
        span = (min(span[0], result.span[0]), max(span[1], result.span[1]))
    if placed_run:  # an unplaced run has no span to tell its twin files by
        result.span = span

    suite_properties = _properties(suite)
    previous: tuple[str, datetime, int] | None = None
    placed = False
    ids = [_test_id(case) for case in cases]
    attempts: dict[str, int] = {}
    for n, case in enumerate(cases):
        source = sources[id(case)]
        if run_failure := _run_failure(case, start, placed_run, source, patterns):
            result.failures.append(run_failure)
            continue
        test_id = ids[n]
        attempt = attempts.get(test_id, 1)
        window = layout.window(n, durations[n])
        result.ran(test_id, *window, attempt)
        if previous and previous[0] == test_id and previous[2] == attempt:
            # pytest writes a call failure and a teardown error as two testcase elements
            window = (previous[1], window[1])
        previous = (test_id, window[0], attempt)
        properties = suite_properties | _properties(case)
        if n + 1 < len(cases) and ids[n + 1] == test_id and _childless(case):
            failures = [_lost_attempt(case, test_id, window, source, placed_run, attempt)]
            attempts[test_id] = attempt + 1
        else:
            failures = _failures(
                case, test_id, window, source, properties, patterns, placed_run, attempt
            )
            flaky = sum(1 for child in case if child.tag in _FLAKY)
            for later in {f.attempt for f in failures} | ({attempt + flaky} if flaky else set()):
                result.ran(test_id, *window, later)
        result.failures += failures
        placed = placed or any(not failure.time_exact for failure in failures)
    if placed:
        result.notes.append(layout.note)
        if layout.warning:
            result.warnings.append(layout.warning)


def _childless(case: Element) -> bool:
    return not any(child.tag in _OUTCOMES for child in case)


def _lost_attempt(
    case: Element,
    test_id: str,
    window: tuple[datetime, datetime],
    source: str,
    placed: bool,
    attempt: int,
) -> Failure:
    """A failed attempt pytest's JUnit XML kept no text of: only that it ran, and when."""
    line = case.get("line")
    return make_failure(
        test_id=test_id,
        outcome="failed",
        phase="call",
        message=(
            "failed attempt: pytest-rerunfailures ran the test again; pytest's JUnit XML keeps "
            "no text of it (the report log does: --report-log)"
        ),
        details="",
        window=window,
        time_exact=False,
        placed=placed,
        source=source,
        test_file=case.get("file"),
        test_line=int(line) + 1 if line and line.isascii() and line.isdigit() else None,
        properties={},
        patterns=DEFAULT_PATTERNS,
        attempt=attempt,
    )


def _attempt_text(child: Element) -> tuple[str, str]:
    """(message, details) of a failure element; Surefire's rerun and flaky elements hold the
    trace in `<stackTrace>` and the attempt's own output, and name the exception in `type`."""
    if child.tag in ("failure", "error"):
        text = child.text or ""
        return child.get("message") or message_from_text(text), text
    trace = child.findtext("stackTrace") or ""
    outputs = [part.text or "" for part in child if part.tag in ("system-out", "system-err")]
    message = child.get("message") or ""
    kind = child.get("type") or ""
    if kind and not message.startswith(kind):
        message = f"{kind}: {message}" if message else kind
    return message or message_from_text(trace), "\n".join(p for p in [trace, *outputs] if p)


def _failures(
    case: Element,
    test_id: str,
    window: tuple[datetime, datetime],
    source: str,
    properties: dict[str, str],
    patterns: IdPatterns,
    placed: bool = True,
    attempt: int = 1,
) -> list[Failure]:
    """One Failure per ``<failure>`` or ``<error>`` of a testcase, and one per failed attempt
    Surefire records in it (its reruns and flaky attempts share the testcase's window)."""
    outputs = [child.text for child in case if child.tag in ("system-out", "system-err")]
    line = case.get("line")
    failures: list[Failure] = []
    reruns = flaky = 0
    for child in case:
        if child.tag not in ("failure", "error", *_RERUN, *_FLAKY):
            continue
        outcome: Outcome = (
            "failed" if child.tag in ("failure", "rerunFailure", "flakyFailure") else "error"
        )
        number = attempt
        if child.tag in _RERUN:
            reruns += 1
            number = attempt + reruns
        elif child.tag in _FLAKY:
            number = attempt + flaky
            flaky += 1
        raw_message, text = _attempt_text(child)
        phase, message = _unwrap(raw_message)
        exact = recorded_window(properties, phase)
        own_output = child.tag in ("failure", "error")
        failures.append(
            make_failure(
                test_id=test_id,
                outcome=outcome,
                phase=phase,
                message=message,
                details="\n".join(t for t in [text, *(outputs if own_output else [])] if t),
                window=exact or window,
                time_exact=exact is not None,
                placed=placed or exact is not None,
                source=source,
                test_file=case.get("file"),
                test_line=int(line) + 1 if line and line.isascii() and line.isdigit() else None,
                properties=properties,
                patterns=patterns,
                attempt=number,
            )
        )
    return failures


def _run_failure(
    case: Element, start: datetime, placed: bool, source: str, patterns: IdPatterns
) -> Failure | None:
    """A module that failed to collect, or pytest's internal error: an `error` of the run,
    placed at the suite's start; None for a test's own testcase."""
    child = next(
        (c for c in case if c.tag in ("error", "failure") and c.get("message") in _RUN_ERRORS),
        None,
    )
    if child is None:
        return None
    text = child.text or ""
    phase: Phase
    if child.get("message") == _INTERNAL:
        test_id, phase = "pytest::internal", "session"
    else:
        # the module's node id: `file` (xunit1), else the dotted module name pytest writes
        name = case.get("name", "")
        test_id = case.get("file") or (name.replace(".", "/") + ".py" if name else "<collection>")
        phase = "collect"
    return make_failure(
        test_id=test_id,
        outcome="error",
        phase=phase,
        message=message_from_text(text) or str(child.get("message")),
        details=text,
        window=(start, start),
        time_exact=False,
        placed=placed,
        source=source,
        test_file=test_id if phase == "collect" else None,
        test_line=None,
        properties={},
        patterns=patterns,
    )


_RUN_ERRORS = (_COLLECTION, _INTERNAL)

#: what a testcase can hold that tells how it went (a childless one passed, or was an attempt)
_OUTCOMES = frozenset(
    {"failure", "error", "skipped", "rerunFailure", "rerunError", "flakyFailure", "flakyError"}
)
#: Surefire's failed attempts of a test that passed in the end (the first of them is attempt 1)
_FLAKY = ("flakyFailure", "flakyError")
#: Surefire's reruns of a test that failed every time (after its `failure` or `error`)
_RERUN = ("rerunFailure", "rerunError")


def _unwrap(message: str) -> tuple[Phase, str]:
    """The phase, and the message without pytest's ``failed on setup with "..."`` wrapper, so a
    setup error reads the same as in the other formats."""
    match = _PHASE_WRAPPER.match(message)
    if not match:
        return "call", message
    inner = message[match.end() :]
    phase: Phase = "setup" if match.group(1) == "setup" else "teardown"
    return phase, inner.removesuffix('"')


def _properties(element: Element) -> dict[str, str]:
    """``<properties><property name value/>`` directly under `element` (record_property)."""
    return {
        prop.get("name", ""): prop.get("value", prop.text or "")
        for prop in element.findall("properties/property")
        if prop.get("name")
    }


def _test_id(case: Element) -> str:
    """The pytest node id, rebuilt from the dotted classname: the module part is the ``file``
    attribute (xunit1) when it is a prefix of the classname, else it ends before the first
    Capitalized (class) name. (``file`` names where the code is, which for a test wrapped by a
    decorator from another module is that module, not the test's.)"""
    classname = case.get("classname", "")
    name = case.get("name", "")
    file = (case.get("file") or "").replace("\\", "/")
    module = file.removesuffix(".py").replace("/", ".")
    if file and classname == module:
        return f"{file}::{name}"
    if file and classname.startswith(module + "."):
        return "::".join([file, *classname[len(module) + 1 :].split("."), name])
    parts = classname.split(".") if classname else []
    cut = next((i for i, part in enumerate(parts) if i and part[:1].isupper()), len(parts))
    if not cut:
        return name
    return "::".join(["/".join(parts[:cut]) + ".py", *parts[cut:], name])
