"""What every results reader shares: per-file results, placing tests in time, building Failures."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from fivewhys.errors import InputError
from fivewhys.ids import IdPatterns, extract_client_event, extract_ids, mask, observed_text
from fivewhys.model import Failure, RunInterval

NOT_RESULTS = "not a JUnit XML, pytest-reportlog or pytest-json-report file"

Outcome = Literal["failed", "error"]
Phase = Literal["collect", "session", "setup", "call", "teardown"]
Kind = Literal["junit", "reportlog", "jsonreport"]


@dataclass
class FileResults:
    """What one results file yields, before files are merged."""

    path: Path
    #: which reader read it; decides which copy of a failure seen in two files is kept
    kind: Kind
    failures: list[Failure] = field(default_factory=list)
    test_ids: set[str] = field(default_factory=set)
    #: the run's wall time (or what the file shows of it), to tell whether two files are one run
    span: tuple[datetime, datetime] | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    #: per (test, attempt), in the order first seen: from its first phase's start to its last's end
    _spans: dict[tuple[str, int], tuple[datetime, datetime]] = field(
        default_factory=dict, repr=False
    )

    def ran(self, test_id: str, start: datetime, end: datetime, attempt: int = 1) -> None:
        """Note a test of the file (by node id) and when one attempt of it ran; its phases
        widen that attempt's span."""
        self.test_ids.add(test_id)
        key = (test_id, attempt)
        known = self._spans.get(key)
        if known is not None:
            start, end = min(start, known[0]), max(end, known[1])
        self._spans[key] = (start, end)

    @property
    def intervals(self) -> list[RunInterval]:
        """When each test ran (as far as the file tells), passed ones too: one interval per
        attempt, built once its phases are all read (a phase is three records in a big run)."""
        return [
            RunInterval(test_id=test_id, start=start, end=end, attempt=attempt)
            for (test_id, attempt), (start, end) in self._spans.items()
        ]


class InputRecord(BaseModel):
    """A record of a pytest JSON output: typed where we read it, other keys ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class CrashLocation(InputRecord):
    """Where pytest says a test crashed: the same shape in reportlog and json-report."""

    path: str = ""
    lineno: int | None = None
    message: str = ""


#: the times of a failure its results place nowhere (`Failure.placed` False): never shown
UNPLACED = datetime(1970, 1, 1, tzinfo=UTC)

_TIME_HINT = re.compile(
    r"\b(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:[.,](\d{1,6})\d*)?\s?(Z|[+-]\d{2}:?\d{2})?\b"
)


def newest_time(text: str, tz: tzinfo | None) -> datetime | None:
    """The newest ISO 8601 time written in `text` (UTC; one without an offset read in `tz`, else
    UTC), or None: what a file without a run start still tells of when it ran."""
    newest: datetime | None = None
    for match in _TIME_HINT.finditer(text):
        day, clock, fraction, offset = match.groups()
        offset = offset or ""
        if len(offset) == 5:  # +HHMM
            offset = f"{offset[:3]}:{offset[3:]}"
        try:
            moment = datetime.fromisoformat(
                f"{day}T{clock}.{(fraction or '0').ljust(6, '0')}{offset.replace('Z', '+00:00')}"
            )
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz or UTC)
        moment = moment.astimezone(UTC)
        newest = moment if newest is None else max(newest, moment)
    return newest


def utc_from_epoch(seconds: float) -> datetime:
    """For an `Epoch`-validated number (the readers' records bound every time they hold)."""
    return datetime.fromtimestamp(seconds, UTC)


#: epochs a results file may hold, 1970 to 3000: a NaN, negative or year-9999 time is damage
EPOCH_MAX = 32503680000.0
#: the longest test or run read (116 days); with EPOCH_MAX, every window stays a valid datetime
SECONDS_MAX = 1e7
Epoch = Annotated[float, Strict(), Field(ge=0, le=EPOCH_MAX, allow_inf_nan=False)]
Seconds = Annotated[float, Strict(), Field(ge=0, le=SECONDS_MAX, allow_inf_nan=False)]
_EARLIEST = datetime.fromtimestamp(0, UTC)
_LATEST = datetime.fromtimestamp(EPOCH_MAX, UTC)


def in_range(moment: datetime) -> bool:
    """An aware time between 1970 and 3000, where windows and pads cannot overflow."""
    return _EARLIEST <= moment <= _LATEST


def plausible_seconds(value: float) -> bool:
    """A duration or run length as a results file may honestly hold one."""
    return math.isfinite(value) and 0 <= value <= SECONDS_MAX


@dataclass(frozen=True)
class Layout:
    """Estimated start of each test of a run whose results give only durations.

    pytest spends the time not covered by test durations mostly collecting, before the first
    test (22 s of a 44.6 s run in the real captures), so tests are laid back to back ending
    when the run ends, not starting when it starts.
    """

    starts: tuple[datetime, ...]
    #: set when the durations overlap (parallel run): every window is then the whole run
    whole_run_end: datetime | None
    note: str
    warning: str | None

    def window(self, index: int, elapsed: float) -> tuple[datetime, datetime]:
        """(test start, end of the phase `elapsed` seconds into the test)."""
        start = self.starts[index]
        if self.whole_run_end is not None:
            return start, self.whole_run_end
        return start, start + timedelta(seconds=elapsed)


def lay_out(
    name: str, run_start: datetime, wall: float | None, durations: Sequence[float]
) -> Layout:
    """Place tests of known durations, run one after another, within a run of `wall` seconds."""
    total = sum(durations)
    if total > SECONDS_MAX:
        raise InputError(f"test durations add up to {total:.0f} s: not the length of a run", name)
    if wall is None:
        slack = 0.0
        note = (
            f"{name}: per-test windows are approximate (run start + durations of earlier "
            "tests: the file gives no run length)"
        )
    elif total > wall + 0.001 * len(durations) + 0.01:
        end = run_start + timedelta(seconds=wall)
        return Layout(
            starts=(run_start,) * len(durations),
            whole_run_end=end,
            note=f"{name}: per-test windows are the whole run (tests ran in parallel)",
            warning=(
                f"{name}: test durations add up to {total:.2f} s, more than the run's "
                f"{wall:.2f} s (parallel run, e.g. pytest-xdist?): each failure's window is "
                "the whole run"
            ),
        )
    else:
        slack = max(wall - total, 0.0)
        note = (
            f"{name}: per-test windows are approximate (run end minus the durations of this "
            f"and later tests; {slack:.2f} s of the {wall:.2f} s run lies outside any test, "
            "taken as collection before the first)"
        )
    starts: list[datetime] = []
    elapsed = slack
    for duration in durations:
        starts.append(run_start + timedelta(seconds=elapsed))
        elapsed += duration
    return Layout(starts=tuple(starts), whole_run_end=None, note=note, warning=None)


_E_LINE = re.compile(r"^E\s+(.*\S)", re.MULTILINE)


def message_from_text(text: str) -> str:
    """The exception line of a traceback text: its first ``E   `` line, else its first line."""
    if match := _E_LINE.search(text):
        return match.group(1)
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def section(title: str, text: str) -> str:
    """Captured output under a pytest-style header, as it reads in a terminal."""
    return f"{f' {title} '.center(80, '-')}\n{text}"


def validation_reason(error: ValidationError) -> str:
    """One line for a skipped record: the first bad field and why."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "record"
    more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


#: properties `pytest --fivewhys` records per test: exact UTC times where JUnit has only durations
START_PROPERTY = "fivewhys.start"
STOP_PROPERTY = "fivewhys.{phase}.stop"


def recorded_window(properties: dict[str, str], phase: Phase) -> tuple[datetime, datetime] | None:
    """The exact (start, end of `phase`) the fivewhys pytest plugin recorded, if it did."""
    start = properties.get(START_PROPERTY)
    stop = properties.get(STOP_PROPERTY.format(phase=phase))
    if not start or not stop:
        return None
    try:
        window = (datetime.fromisoformat(start), datetime.fromisoformat(stop))
        if any(moment.tzinfo is None for moment in window):
            return None
        utc = window[0].astimezone(UTC), window[1].astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return utc if all(in_range(moment) for moment in utc) else None


#: longest failure message and details read whole; a 30 MB assertion message is cut, saying so
MESSAGE_MAX = 64 * 1024
#: the part of a message's first line its signature (template) is masked from
SIGNATURE_MAX = 4096
DETAILS_MAX = 8 * 1024 * 1024


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]} [cut by fivewhys: {len(text)} characters, the first {limit} kept]"


#: pytest-timeout's failure text (pytest_timeout.py, `timeout_sigalrm`: "Timeout (>%ss) from
#: pytest-timeout.", raised by pytest.fail, so the report says `Failed: Timeout ...`)
_RUNNER_TIMEOUT = re.compile(r"\bTimeout \(>(\d+(?:\.\d+)?)s\) from pytest-timeout\b")
#: the banner pytest-timeout writes around its dump of every thread's stack (`write_title`
#: with sep "+"), and the dump's frames (`traceback.format_stack`)
_DUMP_BANNER = re.compile(r"^\+{3,} Timeout \+{3,}$", re.MULTILINE)
_DUMP_FRAME = re.compile(r'^  File "([^"\n]+)", line (\d+), in (\S+)$', re.MULTILINE)
_TRACEBACK_PLACE = re.compile(r"^(\S+?\.py):(\d+): ", re.MULTILINE)
#: a dumped thread's header (`~~~ Stack of MainThread (140585902500736) ~~~`); pytest runs tests
#: in its main thread, the other threads are the test's helpers or the plugins'
_MAIN_STACK = re.compile(
    r"^~+ Stack of MainThread \(\d+\) ~+$(.*?)(?=^~+ Stack of |^\++ |\Z)", re.MULTILINE | re.DOTALL
)


def without_stack_dumps(text: str) -> str:
    """`text` without pytest-timeout's stack dumps (banner to banner): they name every
    thread's variables and source, not ids the test used."""
    banners = list(_DUMP_BANNER.finditer(text))
    if not banners:
        return text
    kept, at = [], 0
    for opening, closing in zip(banners[::2], [*banners[1::2], None], strict=False):
        kept.append(text[at : opening.start()])
        at = closing.end() if closing else len(text)
    kept.append(text[at:])
    return "".join(kept)


def runner_timeout(message: str) -> float | None:
    """pytest-timeout's limit when its kill is what the message tells, else None."""
    match = _RUNNER_TIMEOUT.search(message)
    return float(match.group(1)) if match else None


def own_frames(details: str, test_file: str | None) -> tuple[str, ...]:
    """The frames of the test's own file where a runner timeout stopped it, outermost first:
    from the dump's stack of the main thread (the thread method dumps it), else from the
    traceback's places (the signal method raises in the test's thread and dumps the others)."""
    if not test_file:
        return ()
    name = test_file.replace("\\", "/")

    def own(path: str) -> bool:
        path = path.replace("\\", "/")
        return path == name or path.endswith("/" + name)

    main = _MAIN_STACK.search(details)
    stack = main.group(1) if main else ""
    dumped = [
        f"{name}:{m.group(2)} in {m.group(3)}" for m in _DUMP_FRAME.finditer(stack) if own(m[1])
    ]
    if dumped:
        return tuple(dict.fromkeys(dumped))
    traced = [f"{name}:{m.group(2)}" for m in _TRACEBACK_PLACE.finditer(details) if own(m[1])]
    return tuple(dict.fromkeys(traced))


@lru_cache(maxsize=1024)
def _signature(first_line: str) -> str:
    """`mask(first_line)`, once per distinct line: the failures of one cause share their message."""
    return mask(first_line)


def make_failure(
    *,
    test_id: str,
    outcome: Outcome,
    phase: Phase,
    message: str,
    details: str,
    window: tuple[datetime, datetime],
    time_exact: bool,
    source: str,
    test_file: str | None,
    test_line: int | None,
    properties: dict[str, str],
    patterns: IdPatterns,
    placed: bool = True,
    attempt: int = 1,
) -> Failure:
    """A Failure with its ids, client event and signature taken from its own text (a runner
    timeout's stack dump left out: it is read for the test's frames only)."""
    message, details = _bounded(message, MESSAGE_MAX), _bounded(details, DETAILS_MAX)
    first_line = message.splitlines()[0] if message else ""
    observed = without_stack_dumps(details)
    event = extract_client_event(message, observed)
    limit = runner_timeout(message)
    frames: tuple[str, ...] = ()
    if limit is not None:
        event = event.model_copy(update={"timeout": True, "runner_timeout_s": limit})
        frames = own_frames(details, test_file or test_id.split("::")[0])
    return Failure(
        test_id=test_id,
        outcome=outcome,
        phase=phase,
        message=message,
        details=details,
        started_at=window[0],
        finished_at=window[1],
        time_exact=time_exact,
        placed=placed,
        source=source,
        test_file=test_file,
        test_line=test_line,
        ids=extract_ids([message, observed_text(observed)], properties, patterns),
        event=event,
        signature=_signature(first_line[:SIGNATURE_MAX]),
        properties=properties,
        attempt=attempt,
        frames=frames,
    )
