"""Pulling the failure windows from Cloud Logging: settled, cached, within quota, and honest about
what could not be read.

One query per coalesced window (more only when the filter must be split at 20,000 characters),
pages of 1000, oldest first. Before reading, a run that analyses a failure the moment it
happened waits for ingestion: it polls until entries at or past the newest window's end are
readable, for at most `settle_s`. A failing request is retried with backoff and resumes at the
last timestamp read; a window that still cannot be read is recorded as partial or missing and
the pull goes on. Complete windows go to the local cache, so the same pull runs request-free.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from fivewhys.config import LoggingSettings
from fivewhys.errors import FivewhysError
from fivewhys.ids import DEFAULT_PATTERNS, IdPatterns
from fivewhys.logs.cache import WindowCache, cache_key
from fivewhys.logs.entry import LogBatch, normalize_entries
from fivewhys.logs.files import LogRead, collect
from fivewhys.logs.query import (
    PAGE_SIZE,
    after_filter,
    build_filter,
    coalesce,
    id_fields_clause,
    keyed_clauses,
    narrow_filter,
    service_groups,
)
from fivewhys.logs.quota import Backoff, Clock, RateLimiter, Retryable, SystemClock
from fivewhys.model import PulledWindow, PullInfo, Window, WindowStatus

if TYPE_CHECKING:
    from fivewhys.logs.cloud_logging import LoggingAPI

#: pages a narrow pull reads of an unexplained failure's window before it leaves out the lines
#: that cannot be its candidates (and stops counting the lines set aside)
WHOLE_PAGES = 2


@dataclass(frozen=True)
class LiveSource:
    """What to pull (project, services, severity) and how (endpoint, settings, cache, clock)."""

    project: str
    services: tuple[str, ...]
    severity: str | None = None
    #: None for the Google endpoint
    endpoint: str | None = None
    settings: LoggingSettings = field(default_factory=LoggingSettings)
    #: None: every window is read from the API (`--no-cache`)
    cache: WindowCache | None = None
    #: called with one line per event worth telling (windows read, retries, waiting)
    progress: Callable[[str], None] | None = None
    clock: Clock = field(default_factory=SystemClock)
    rng: random.Random | None = None
    #: "narrow": only the lines that can be evidence (NarrowPlan); "all": every entry
    pull: Literal["narrow", "all"] = "narrow"
    #: how many days before the run to read the services' deploys from the audit log (0: none;
    #: the command line's `--deploy-lookback` defaults to 7)
    deploy_lookback_days: float = 0.0


@dataclass
class PullStats:
    """What a pull cost: requests sent, pages answered, retries, windows served by the cache."""

    requests: int = 0
    pages: int = 0
    retries: int = 0
    cached_windows: int = 0


@dataclass(frozen=True)
class LivePull:
    """The pulled logs (with the pull's record in `logs.pulls`) and what pulling cost."""

    logs: LogRead
    stats: PullStats
    #: ranges a narrow pull did not read in full: lines set aside there were not counted
    uncounted: tuple[Window, ...] = ()


@dataclass(frozen=True)
class Target:
    """One failure as a narrow pull sees it: its window, its ids, where its rules read by time."""

    window: Window
    #: connection ids, user ids and traces: a line holding one is the failure's own
    ids: tuple[str, ...]
    #: where a rule that joins lines by time may read them for it (None: no such rule)
    band: Window | None
    #: the id kinds it has (query.ID_KINDS): a line with an unknown id of one is not its own
    owns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Need:
    """Which targets the lines read so far leave open, by index."""

    #: still read their time-joinable lines in their bands
    time: frozenset[int] = frozenset()
    #: read every entry of their windows (they stay unexplained: their report lists any line)
    whole: frozenset[int] = frozenset()


@dataclass(frozen=True)
class NarrowPlan:
    """What a narrow pull asks for, and how it tells what it still needs (the analysis above
    the logs layer decides: `assess` runs it on the lines read so far)."""

    targets: tuple[Target, ...]
    #: a filter clause selecting the lines a time-joining rule can use (kinds, severities)
    time_clause: str | None
    assess: Callable[[LogRead], Need]


@dataclass
class _Plan:
    """One coalesced window: its service groups, cache key, and what reading it gave."""

    number: int
    window: Window
    groups: list[tuple[str, ...]]
    key: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    record: PulledWindow | None = None
    #: narrow: the queries read from the API, to cache once the window is known complete
    fresh: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    pages: int = 0


def pull_logs(
    source: LiveSource,
    windows: Sequence[Window],
    *,
    id_patterns: IdPatterns = DEFAULT_PATTERNS,
    narrow: NarrowPlan | None = None,
) -> LivePull:
    """Read the coalesced `windows` of `source.services`; raises `AccessError` if nothing can be.

    With a `narrow` plan (and `source.pull` "narrow") only the lines that can be evidence."""
    if narrow is not None and source.pull == "narrow":
        return _pull_narrow(source, narrow, id_patterns)
    say = source.progress or _quiet
    stats = PullStats()
    plans = _plans(source, coalesce(windows))
    pending: list[_Plan] = []
    for plan in plans:
        cached = source.cache.get(plan.key) if source.cache else None
        if cached is None:
            pending.append(plan)
            continue
        plan.entries, plan.record = cached.entries, cached.window
        stats.cached_windows += 1
        say(f"{_name(plan, len(plans))}: {cached.window.entries} entries from the cache")
    if pending:
        api = _connect(source)
        try:
            _read_pending(api, source, pending, len(plans), stats, say)
        finally:
            stats.requests, stats.pages = api.requests, api.pages
            api.close()
    entries = sum(len(p.entries) for p in plans)
    say(
        f"pulled {len(plans)} window(s), {entries} entries: {stats.requests} request(s), "
        f"{stats.retries} retries, {stats.cached_windows} window(s) from the cache"
    )
    return LivePull(logs=_logs(source, plans, id_patterns), stats=stats)


def _pull_narrow(source: LiveSource, narrow: NarrowPlan, id_patterns: IdPatterns) -> LivePull:
    """Keyed queries over every window; then, for the failures still open, their time-joinable
    lines in their bands; then, for those still unexplained, their windows: every entry when
    that takes at most WHOLE_PAGES pages, else the rest of the window less the lines that carry
    an id of a kind the failure has (they are never its time candidates; left uncounted)."""
    say = source.progress or _quiet
    stats = PullStats()
    windows = coalesce([t.window for t in narrow.targets])
    plans = [_Plan(n, w, [], "") for n, w in enumerate(windows, 1)]
    services, severity = source.services, source.severity
    api: LoggingAPI | None = None
    started = source.clock.now()
    waited, settled = 0.0, True
    uncounted: list[Window] = []

    #: per plan: the ranges already read in full (a clause-free query read them)
    read_all: dict[int, list[Window]] = {}

    def run(
        plan: _Plan,
        ranges: Sequence[Window],
        clause: str | None,
        what: str,
        limit: int | None = None,
    ) -> datetime | None:
        """Read `clause` over `ranges` (what is not read in full yet). With `limit`, stop after
        that many entries and return the timestamp where the read stopped."""
        nonlocal api, waited, settled
        ranges = _minus(ranges, read_all.get(plan.number, []))
        if not ranges:
            return None  # every entry there is read already
        text = narrow_filter(ranges, services, severity, clause)
        # a read cut at `limit` is its own query: its first `limit` entries
        texts = [text] if limit is None else [text, f"first {limit}"]
        key = cache_key(source.endpoint, source.project, services, plan.window, texts)
        cached = source.cache.get(key) if source.cache else None
        if cached is not None:
            stats.cached_windows += 1
            _add(plan, cached.entries)
            say(f"{_name(plan, len(plans))}: {what}: {len(cached.entries)} entries from the cache")
            if limit is not None and len(cached.entries) >= limit:
                return _timestamp(cached.entries[-1]) or ranges[0].start
            if clause is None:
                read_all.setdefault(plan.number, []).extend(ranges)
            return None
        if api is None:
            api = _connect(source)
            waited, settled = _settle(api, source, max(w.end for w in windows), say)
        pages_before = api.pages
        got: list[dict[str, Any]] = []
        failure, stopped = _read_query(
            api, source, plan, ranges, clause, got, backoff, stats, say, limit
        )
        plan.pages += api.pages - pages_before
        _add(plan, got)
        if failure:
            plan.failures.append(f"{what}: {failure}")
        else:
            plan.fresh.append((key, got))
            if clause is None and stopped is None:
                read_all.setdefault(plan.number, []).extend(ranges)
        say(f"{_name(plan, len(plans))}: {what}: {len(got)} entries")
        return stopped

    def by_owns(indexes: Iterable[int]) -> dict[tuple[str, ...], list[Target]]:
        groups: dict[tuple[str, ...], list[Target]] = {}
        for index in sorted(indexes):
            target = narrow.targets[index]
            groups.setdefault(target.owns, []).append(target)
        return groups

    backoff = Backoff(source.settings.backoff_s, source.settings.backoff_max_s, source.rng)
    limit = WHOLE_PAGES * PAGE_SIZE  # pages as the client asks for them
    try:
        for plan in plans:
            ids = {i for t in narrow.targets if _meets(t.window, plan.window) for i in t.ids}
            for clause in keyed_clauses([plan.window], services, severity, sorted(ids)):
                run(plan, [plan.window], clause, "keyed lines")
        need = narrow.assess(_logs(source, plans, id_patterns))
        for owns, targets in by_owns(need.time | need.whole).items():
            time_clause = _and_clauses(narrow.time_clause, _not(id_fields_clause(owns)))
            for plan in plans:
                inside = [t.band for t in targets if t.band and _meets(t.band, plan.window)]
                if inside:
                    run(plan, coalesce(inside, timedelta(0)), time_clause, "time lines")
        need = narrow.assess(_logs(source, plans, id_patterns))
        for owns, targets in by_owns(need.whole).items():
            for plan in plans:
                inside = coalesce(
                    [t.window for t in targets if _meets(t.window, plan.window)], timedelta(0)
                )
                if not inside:
                    continue
                stopped = run(plan, inside, None, "every entry", limit)
                if stopped is None:
                    continue
                rest = [
                    Window(start=max(w.start, stopped), end=w.end)
                    for w in inside
                    if w.end >= stopped
                ]
                uncounted.extend(rest)
                run(plan, rest, _not(id_fields_clause(owns)), "lines without others' ids")
    finally:
        if api is not None:
            stats.requests, stats.pages = api.requests, api.pages
            api.close()
    for plan in plans:
        plan.entries.sort(key=_order)
        status: WindowStatus = "complete"
        reason = None
        if plan.failures:
            status = "partial" if plan.entries else "missing"
            reason = "; ".join(plan.failures)
        elif not settled and started < plan.window.end + timedelta(
            seconds=source.settings.settle_s
        ):
            status = "unsettled"
            reason = (
                "entries after its end were not readable yet when the wait for ingestion "
                f"ended ({waited:.1f} s): it may be incomplete"
            )
        plan.record = PulledWindow(
            start=plan.window.start,
            end=plan.window.end,
            status=status,
            reason=reason,
            entries=len(plan.entries),
            pages=plan.pages,
            pulled_at=source.clock.now() if status != "missing" else None,
            settle_wait_s=round(waited, 1),
        )
        if status == "complete" and source.cache is not None:
            for key, got in plan.fresh:
                record = plan.record.model_copy(update={"entries": len(got)})
                problem = source.cache.put(key, record, got)
                if problem:
                    say(problem)
    entries = sum(len(p.entries) for p in plans)
    say(
        f"pulled {len(plans)} window(s) narrowly, {entries} entries: {stats.requests} "
        f"request(s), {stats.retries} retries, {stats.cached_windows} query(ies) from the cache"
    )
    return LivePull(
        logs=_logs(source, plans, id_patterns), stats=stats, uncounted=tuple(coalesce(uncounted))
    )


def _and_clauses(*clauses: str | None) -> str | None:
    given = [c for c in clauses if c]
    if not given:
        return None
    return given[0] if len(given) == 1 else " AND ".join(f"({c})" for c in given)


def _not(clause: str | None) -> str | None:
    return f"NOT {clause}" if clause else None


def _minus(ranges: Sequence[Window], done: Sequence[Window]) -> list[Window]:
    """The parts of `ranges` outside every range of `done` (ends inclusive, so a part starts or
    ends a microsecond off a done range)."""
    tick = timedelta(microseconds=1)
    left = list(ranges)
    for cut in done:
        kept = []
        for part in left:
            if part.end < cut.start or cut.end < part.start:
                kept.append(part)
                continue
            if part.start < cut.start:
                kept.append(Window(start=part.start, end=cut.start - tick))
            if cut.end < part.end:
                kept.append(Window(start=cut.end + tick, end=part.end))
        left = kept
    return left


def _meets(a: Window, b: Window) -> bool:
    return a.start <= b.end and b.start <= a.end


def _add(plan: _Plan, entries: Iterable[dict[str, Any]]) -> None:
    """Entries not read before (by insertId) join the window's."""
    seen = {e.get("insertId") for e in plan.entries}
    for entry in entries:
        insert_id = entry.get("insertId")
        if insert_id is None or insert_id not in seen:
            plan.entries.append(entry)
            seen.add(insert_id)


def _order(entry: dict[str, Any]) -> tuple[datetime, str]:
    """The API's order: timestamp, then insertId (a full read gives them so)."""
    moment = _timestamp(entry) or datetime.min.replace(tzinfo=UTC)
    return moment, str(entry.get("insertId") or "")


def _read_query(
    api: LoggingAPI,
    source: LiveSource,
    plan: _Plan,
    ranges: Sequence[Window],
    clause: str | None,
    out: list[dict[str, Any]],
    backoff: Backoff,
    stats: PullStats,
    say: Callable[[str], None],
    limit: int | None = None,
) -> tuple[str | None, datetime | None]:
    """One narrow query, retried with backoff and resumed at the last timestamp read: (why it
    failed, None) or (None, where it stopped after `limit` entries, else None)."""
    left = list(ranges)

    def query(resume: datetime | None) -> str | None:
        nonlocal left
        left = [
            Window(start=max(w.start, resume), end=w.end) if resume else w
            for w in ranges
            if resume is None or w.end >= resume
        ]
        return narrow_filter(left, source.services, source.severity, clause) if left else None

    def on_retry(reason: str, attempt: int, delay: float) -> None:
        stats.retries += 1
        retries = source.settings.retries
        say(f"window {plan.number}: {reason}; retry {attempt} of {retries} in {delay:.1f}s")

    failure, stopped = _read_resuming(api, source, query, out, set(), backoff, on_retry, limit)
    if stopped is None:
        return failure, None
    # entries at the last timestamp may go on past it, so a later read starts there again
    return None, _timestamp(stopped) or max(w.start for w in left)


def read_filtered(
    source: LiveSource, log_filter: str, what: str
) -> tuple[list[dict[str, Any]], str | None]:
    """Every entry of one query outside the windows (the deploy lookback), retried as a window
    is: the entries read, and why the read stopped short (None when whole). A retry reads the
    query again from its start; entries already read are not kept twice."""
    say = source.progress or _quiet
    backoff = Backoff(source.settings.backoff_s, source.settings.backoff_max_s, source.rng)
    out: list[dict[str, Any]] = []

    def on_retry(reason: str, attempt: int, delay: float) -> None:
        say(f"{what}: {reason}; retry {attempt} of {source.settings.retries} in {delay:.1f}s")

    api = _connect(source)
    try:
        failure, _ = _read_resuming(
            api, source, lambda _: log_filter, out, set(), backoff, on_retry
        )
    except FivewhysError as exc:  # no access: the analysis goes on without it
        return out, str(exc)
    finally:
        api.close()
    if failure is None:
        say(f"{what}: {len(out)} entries, {api.requests} request(s)")
    return out, failure


def _read_resuming(
    api: LoggingAPI,
    source: LiveSource,
    query: Callable[[datetime | None], str | None],
    out: list[dict[str, Any]],
    seen: set[str],
    backoff: Backoff,
    on_retry: Callable[[str, int, float], None],
    limit: int | None = None,
) -> tuple[str | None, dict[str, Any] | None]:
    """The entries of `query(resume)` into `out`, an insertId in `seen` skipped (read before a
    retry), retried with backoff; a retry asks `query` for the filter from the timestamp of the
    last entry read (None: nothing is left to read). The retry budget is per stuck read: a
    failure after new entries starts the count again.

    Returns (why it failed, None), (None, the entry it stopped at once `out` holds `limit`
    entries: stopped before the next page is asked for), or (None, None) when read to the end.
    """
    retries = source.settings.retries
    resume: datetime | None = None
    attempt = 0
    while True:
        last: dict[str, Any] | None = None
        try:
            text = query(resume)
            for entry in api.entries(text) if text is not None else ():
                insert_id = entry.get("insertId")
                if insert_id in seen:
                    continue
                if isinstance(insert_id, str):
                    seen.add(insert_id)
                out.append(entry)
                last = entry
                if limit is not None and len(out) >= limit:
                    return None, entry
            return None, None
        except Retryable as exc:
            if last is not None:
                resume = _timestamp(last) or resume
                attempt = 0
            if attempt >= retries:
                return f"{exc.reason}, after {attempt + 1} attempts", None
            delay = backoff.delay(attempt)
            attempt += 1
            on_retry(exc.reason, attempt, delay)
            source.clock.sleep(delay)


def _quiet(line: str) -> None:
    """Progress goes nowhere unless asked for."""


def _connect(source: LiveSource) -> LoggingAPI:
    # imported here: the client library takes most of a second to import, and file-based
    # analyses never need it
    from fivewhys.logs.cloud_logging import DEFAULT_ENDPOINT, LoggingAPI

    limiter = RateLimiter(source.settings.requests_per_s, source.clock)
    endpoint = source.endpoint or DEFAULT_ENDPOINT
    return LoggingAPI(source.project, endpoint, limiter, source.settings.timeout_s)


def _plans(source: LiveSource, windows: list[Window]) -> list[_Plan]:
    plans = []
    for number, window in enumerate(windows, 1):
        groups = service_groups(window, source.services, source.severity)
        filters = [build_filter([window], group, source.severity) for group in groups]
        key = cache_key(source.endpoint, source.project, source.services, window, filters)
        plans.append(_Plan(number, window, groups, key))
    return plans


def _name(plan: _Plan, total: int) -> str:
    start, end = plan.window.start, plan.window.end
    return f"window {plan.number}/{total} {start:%Y-%m-%d %H:%M:%S}Z to {end:%H:%M:%S}Z"


def _read_pending(
    api: LoggingAPI,
    source: LiveSource,
    pending: list[_Plan],
    total: int,
    stats: PullStats,
    say: Callable[[str], None],
) -> None:
    """Settle, then read every pending window; complete ones go to the cache."""
    settings, clock = source.settings, source.clock
    started = clock.now()
    waited, settled = _settle(api, source, max(p.window.end for p in pending), say)
    backoff = Backoff(settings.backoff_s, settings.backoff_max_s, source.rng)
    for plan in pending:
        pages_before = api.pages
        status, reason = _read_window(api, source, plan, backoff, stats, say, total)
        plan.record = PulledWindow(
            start=plan.window.start,
            end=plan.window.end,
            status=status,
            reason=reason,
            entries=len(plan.entries),
            pages=api.pages - pages_before,
            pulled_at=clock.now() if status != "missing" else None,
            settle_wait_s=round(waited, 1),
        )
        pages = plan.record.pages
        say(
            f"{_name(plan, total)}: {len(plan.entries)} entries, {pages} page"
            f"{'s' if pages != 1 else ''}" + (f" ({status}: {reason})" if reason else "")
        )
    # waited out: a window that ended within `settle_s` may miss entries not ingested yet,
    # unless entries after its end were read (from a later window)
    latest = None if settled else _latest(e for p in pending for e in p.entries)
    young = timedelta(seconds=settings.settle_s)
    for plan in pending:
        record = plan.record
        if record is None or record.status != "complete":
            continue
        end = plan.window.end
        if not settled and started < end + young and (latest is None or latest < end):
            plan.record = record.model_copy(
                update={
                    "status": "unsettled",
                    "reason": "entries after its end were not readable yet when the wait "
                    f"for ingestion ended ({waited:.1f} s): it may be incomplete",
                }
            )
        elif source.cache is not None:
            problem = source.cache.put(plan.key, record, plan.entries)
            if problem:
                say(problem)


def _settle(
    api: LoggingAPI, source: LiveSource, newest_end: datetime, say: Callable[[str], None]
) -> tuple[float, bool]:
    """Wait until entries at or past `newest_end` are readable, for at most `settle_s`.

    Returns (seconds waited, settled). A window that ended `settle_s` or more ago counts as
    settled without asking.
    """
    settings, clock = source.settings, source.clock
    left = (newest_end + timedelta(seconds=settings.settle_s) - clock.now()).total_seconds()
    budget = min(settings.settle_s, left)
    if budget <= 0:
        return 0.0, True
    say(f"waiting up to {budget:.0f} s for entries past {newest_end:%H:%M:%S}Z to be ingested")
    start = clock.monotonic()
    probe = after_filter(newest_end, source.services)
    while True:
        if _readable(api, probe, say):
            return clock.monotonic() - start, True
        elapsed = clock.monotonic() - start
        if elapsed >= budget:
            say(f"stopped waiting for ingestion after {elapsed:.1f} s")
            return elapsed, False
        clock.sleep(min(settings.settle_poll_s, budget - elapsed))


def _readable(api: LoggingAPI, probe: str, say: Callable[[str], None]) -> bool:
    """Is any entry matching `probe` readable? A retryable failure counts as "not yet"."""
    try:
        return next(api.entries(probe, page_size=1), None) is not None
    except Retryable as exc:
        say(f"ingestion check failed: {exc.reason}")
        return False


def _read_window(
    api: LoggingAPI,
    source: LiveSource,
    plan: _Plan,
    backoff: Backoff,
    stats: PullStats,
    say: Callable[[str], None],
    total: int,
) -> tuple[WindowStatus, str | None]:
    """Read every service group of a window into `plan.entries`; how it went, and why."""
    seen: set[str] = set()
    failures = []
    for group in plan.groups:
        failure = _read_group(api, source, plan, group, seen, backoff, stats, say, total)
        if failure:
            failures.append(failure)
    if not failures:
        return "complete", None
    reason = "; ".join(failures)
    if plan.entries:
        last = _latest(plan.entries)
        where = f" after {last:%H:%M:%S.%f}Z" if last else ""
        return "partial", f"read broke off{where}: {reason}"
    return "missing", reason


def _read_group(
    api: LoggingAPI,
    source: LiveSource,
    plan: _Plan,
    group: tuple[str, ...],
    seen: set[str],
    backoff: Backoff,
    stats: PullStats,
    say: Callable[[str], None],
    total: int,
) -> str | None:
    """One query of a window, retried with backoff and resumed at the last timestamp read:
    None when read to the end, else why not."""

    def query(resume: datetime | None) -> str:
        window = Window(start=resume or plan.window.start, end=plan.window.end)
        return build_filter([window], group, source.severity)

    def on_retry(reason: str, attempt: int, delay: float) -> None:
        stats.retries += 1
        retries = source.settings.retries
        say(f"{_name(plan, total)}: {reason}; retry {attempt} of {retries} in {delay:.1f} s")

    failure, _ = _read_resuming(api, source, query, plan.entries, seen, backoff, on_retry)
    return failure


def _timestamp(entry: dict[str, Any]) -> datetime | None:
    value = entry.get("timestamp")
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _latest(entries: Iterable[dict[str, Any]]) -> datetime | None:
    return max((t for t in map(_timestamp, entries) if t is not None), default=None)


def _logs(source: LiveSource, plans: list[_Plan], id_patterns: IdPatterns) -> LogRead:
    """The plans' entries normalized into one LogRead carrying the pull's record."""
    label = f"projects/{source.project}"
    batches = []
    for plan in plans:
        batch = LogBatch(label=f"{label} window {plan.number}")
        normalize_entries(_sourced(plan, label), id_patterns=id_patterns, batch=batch)
        batches.append(batch)
    records = tuple(p.record for p in plans if p.record is not None)
    pulled = [r.pulled_at for r in records if r.pulled_at is not None]
    pull = PullInfo(
        project=source.project,
        services=tuple(sorted(source.services)),
        severity=source.severity,
        api_endpoint=source.endpoint,
        filter=build_filter([p.window for p in plans], source.services, source.severity),
        pulled_at=max(pulled) if pulled else source.clock.now(),
        settle_wait_s=max((r.settle_wait_s for r in records), default=0.0),
        windows=records,
    )
    return collect(batches, [f"Cloud Logging API, {label}"], pulls=[pull])


def _sourced(plan: _Plan, label: str) -> Iterator[tuple[str, Any]]:
    for number, entry in enumerate(plan.entries, 1):
        yield f"{label} window {plan.number} #{number}", entry
