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
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fivewhys.config import LoggingSettings
from fivewhys.ids import DEFAULT_PATTERNS, IdPatterns
from fivewhys.logs.cache import WindowCache, cache_key
from fivewhys.logs.entry import LogBatch, normalize_entries
from fivewhys.logs.files import LogRead, collect
from fivewhys.logs.query import after_filter, build_filter, coalesce, service_groups
from fivewhys.logs.quota import Backoff, Clock, RateLimiter, Retryable, SystemClock
from fivewhys.model import PulledWindow, PullInfo, Window, WindowStatus

if TYPE_CHECKING:
    from fivewhys.logs.cloud_logging import LoggingAPI

#: where `--api-endpoint` may come from instead
ENDPOINT_ENV = "FIVEWHYS_LOGGING_ENDPOINT"


def check_endpoint(url: str) -> str:
    """An `http(s)://host[:port]` URL without a trailing slash; ValueError otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http:// or https:// URL: {url!r}")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError(f"give the endpoint's root, without a path: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


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


@dataclass
class _Plan:
    """One coalesced window: its service groups, cache key, and what reading it gave."""

    number: int
    window: Window
    groups: list[tuple[str, ...]]
    key: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    record: PulledWindow | None = None


def pull_logs(
    source: LiveSource, windows: Sequence[Window], *, id_patterns: IdPatterns = DEFAULT_PATTERNS
) -> LivePull:
    """Read the coalesced `windows` of `source.services`; raises `AccessError` if nothing can be."""
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
    """One query, retried with backoff; a retry resumes at the last timestamp read.

    Returns None when read to the end, else why not. The retry budget is per stuck read: a
    failure after new entries starts the count again.
    """
    retries = source.settings.retries
    resume: datetime | None = None
    attempt = 0
    while True:
        window = Window(start=resume or plan.window.start, end=plan.window.end)
        last: dict[str, Any] | None = None
        try:
            for entry in api.entries(build_filter([window], group, source.severity)):
                insert_id = entry.get("insertId")
                if insert_id in seen:
                    continue  # read before the resume timestamp's retry
                if isinstance(insert_id, str):
                    seen.add(insert_id)
                plan.entries.append(entry)
                last = entry
            return None
        except Retryable as exc:
            if last is not None:
                resume = _timestamp(last) or resume
                attempt = 0
            if attempt >= retries:
                return f"{exc.reason}, after {attempt + 1} attempts"
            delay = backoff.delay(attempt)
            attempt += 1
            stats.retries += 1
            say(
                f"{_name(plan, total)}: {exc.reason}; retry {attempt} of {retries} in {delay:.1f} s"
            )
            source.clock.sleep(delay)


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
