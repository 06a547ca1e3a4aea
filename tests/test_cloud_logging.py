"""Pulling windows from Cloud Logging with the real client against the fake endpoint: the number
of requests, the rate limit, retries, missing windows, the cache, and waiting for ingestion.

Time is a `FakeClock` wherever it can be: waits are recorded, not spent, and nothing here
depends on how fast the machine is.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from conftest import REPO
from fake_logging import FakeClock, FakeLogging, bulk_entries, fake_logging, read_ndjson, zulu

from fivewhys.config import LoggingSettings
from fivewhys.logs.cache import WindowCache
from fivewhys.logs.files import read_log_files
from fivewhys.logs.live import LivePull, LiveSource, pull_logs, read_filtered
from fivewhys.logs.quota import Backoff, RateLimiter
from fivewhys.model import Window
from fivewhys.pipeline import Analysis, OutputFormat, analyze, render
from fivewhys.resources import CACHE_DIR_ENV

__all__ = ["fake_logging"]  # the fixture, used by name

PROJECT = "fivewhys-example"
RESULTS = REPO / "examples" / "results" / "report-log.jsonl"
SINK = REPO / "examples" / "logs" / "sink.ndjson"
T0 = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
#: small backoff and timeout, no settling: the defaults for these tests
#: the client's timeout leaves room for the fake's own filter evaluation on a loaded machine (a
#: page of 1,000 entries took over 0.3 s under a load of 6 on two cores: a spurious retry)
FAST = {"backoff_s": 0.001, "backoff_max_s": 0.004, "timeout_s": 2.0, "retries": 3}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))


def live(
    fake: FakeLogging,
    clock: FakeClock | None = None,
    cache: WindowCache | None = None,
    services: tuple[str, ...] = ("chat-backend",),
    lines: list[str] | None = None,
    pull: Literal["narrow", "all"] = "all",
    **settings: Any,
) -> LiveSource:
    """A source on the fake; `--pull all` by default: these tests hold the full pull's requests
    (tests/test_narrow_pull.py holds the narrow one's)."""
    return LiveSource(
        pull=pull,
        project=PROJECT,
        services=services,
        endpoint=fake.url,
        settings=LoggingSettings(**{"settle_s": 0.0, **FAST, **settings}),
        cache=cache,
        progress=lines.append if lines is not None else None,
        clock=clock or FakeClock(T0 + timedelta(days=1)),
        rng=random.Random(7),
    )


def window(start_s: float, end_s: float) -> Window:
    return Window(start=T0 + timedelta(seconds=start_s), end=T0 + timedelta(seconds=end_s))


def pull(source: LiveSource, *windows: Window) -> LivePull:
    return pull_logs(source, list(windows))


# --- requests: one query per coalesced window, one request per page ----------------------------


def test_the_example_is_one_query_of_one_page(fake_logging: FakeLogging) -> None:
    fake_logging.load(read_ndjson(SINK))
    report = analyze(Analysis(results=[RESULTS], live=live(fake_logging)))
    assert report.log_entries == 57
    [request] = fake_logging.requests
    assert request.page_size == 1000
    assert request.order_by == "timestamp asc"
    assert request.resource_names == (f"projects/{PROJECT}",)
    assert request.filter == report.query.per_window[0].queries[0].filter
    assert 'timestamp>="2026-11-21T23:35:35.397103Z"' in request.filter


def test_a_pulled_entry_is_the_entry_a_file_holds(fake_logging: FakeLogging) -> None:
    fake_logging.load(read_ndjson(SINK))
    pulled = pull(live(fake_logging), window(-86_400, 86_400)).logs.frame
    from_file = read_log_files([str(SINK)]).frame
    assert pulled.height == 57
    # every column, the raw JSON included, but where it was read from
    assert pulled.drop("source").equals(from_file.drop("source"))
    assert pulled.get_column("source")[0] == "projects/fivewhys-example window 1 #1"


def test_pages_of_1000_and_no_token_after_the_last(fake_logging: FakeLogging) -> None:
    fake_logging.load(bulk_entries(2500, T0))
    pulled = pull(live(fake_logging), window(0, 60))
    assert pulled.logs.frame.height == 2500
    assert [r.page_token for r in fake_logging.requests] == [None, "p:1000", "p:2000"]
    assert (pulled.stats.requests, pulled.stats.pages) == (3, 3)
    assert pulled.logs.pulls[0].windows[0].pages == 3


def test_requests_are_windows_times_pages(fake_logging: FakeLogging) -> None:
    near_a, near_b, far = window(0, 10), window(40, 50), window(600, 610)
    fake_logging.load(
        bulk_entries(1500, T0, step_ms=30)  # 0 to 45 s: the first coalesced window
        + bulk_entries(10, far.start, prefix="far")
    )
    pulled = pull(live(fake_logging), near_a, far, near_b)
    windows = pulled.logs.pulls[0].windows
    assert [(w.start, w.end) for w in windows] == [
        (near_a.start, near_b.end),
        (far.start, far.end),
    ]
    assert [w.entries for w in windows] == [1500, 10]
    expected = sum(max(1, math.ceil(w.entries / 1000)) for w in windows)
    assert len(fake_logging.requests) == expected == 3


def test_every_query_names_its_time_range(fake_logging: FakeLogging) -> None:
    fake_logging.load(bulk_entries(10, T0))
    pull(live(fake_logging), window(0, 5), window(300, 305))
    assert len(fake_logging.requests) == 2
    for request in fake_logging.requests:
        assert request.filter.count("timestamp>=") == 1
        assert request.filter.count("timestamp<=") == 1


def test_only_the_named_services_and_severity(fake_logging: FakeLogging) -> None:
    fake_logging.load(bulk_entries(50, T0) + bulk_entries(50, T0, service="auth"))
    auth = live(fake_logging, services=("auth",))
    frame = pull(auth, window(0, 60)).logs.frame
    assert frame.get_column("service").unique().to_list() == ["auth"]
    assert frame.height == 50
    warnings = pull(replace(auth, severity="WARNING"), window(0, 60)).logs
    assert warnings.frame.height == 5  # every tenth entry is a WARNING
    assert "(severity>=WARNING)" in fake_logging.requests[-1].filter
    assert warnings.pulls[0].severity == "WARNING"


def test_a_split_filter_is_several_queries_each_within_the_limit(
    fake_logging: FakeLogging,
) -> None:
    services = tuple(f"svc-{n:04d}-{'z' * 60}" for n in range(400)) + ("chat-backend",)
    fake_logging.load(bulk_entries(20, T0))
    pulled = pull(live(fake_logging, services=services), window(0, 60))
    assert len(fake_logging.requests) > 1
    assert all(len(r.filter) <= 20_000 for r in fake_logging.requests)
    assert pulled.logs.frame.height == 20


# --- the rate limit ------------------------------------------------------------------------------


def test_requests_keep_the_rate_limit(fake_logging: FakeLogging) -> None:
    clock = FakeClock(T0 + timedelta(days=1))
    fake_logging.clock = clock.monotonic
    fake_logging.load(
        bulk_entries(2500, T0) + bulk_entries(5, T0 + timedelta(seconds=900), prefix="b")
    )
    pull(live(fake_logging, clock, requests_per_s=2.0), window(0, 60), window(900, 960))
    times = [r.at for r in fake_logging.requests]
    assert len(times) == 4
    assert all(b - a >= 0.5 for a, b in zip(times, times[1:], strict=False))
    assert clock.sleeps == [0.5, 0.5, 0.5]  # waited for each slot, and no longer


def test_rate_limiter_sleeps_only_the_rest_of_the_interval() -> None:
    clock = FakeClock(T0)
    limiter = RateLimiter(1.0, clock)
    assert limiter.acquire() == 0.0  # the first request goes at once
    clock.elapsed += 0.3  # the request took 0.3 s
    assert limiter.acquire() == pytest.approx(0.7)
    clock.elapsed += 5.0  # a long pause: no debt carried over
    assert limiter.acquire() == 0.0
    assert clock.sleeps == [pytest.approx(0.7)]
    with pytest.raises(ValueError):
        RateLimiter(0, clock)


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    backoff = Backoff(1.0, 8.0, random.Random(1))
    for attempt, ceiling in enumerate([1.0, 2.0, 4.0, 8.0, 8.0, 8.0]):
        delays = {backoff.delay(attempt) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jitter: not in lockstep


# --- faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["429", "500", "hang", "drop"])
def test_a_failing_request_is_retried_and_recovers(fake_logging: FakeLogging, fault: str) -> None:
    fake_logging.load(read_ndjson(SINK))
    fake_logging.hang_s = 2.5  # longer than the 2 s client timeout
    fake_logging.faults = [fault, fault]
    lines: list[str] = []
    report = analyze(Analysis(results=[RESULTS], live=live(fake_logging, lines=lines)))
    assert report.log_entries == 57
    assert report.query.pulls[0].windows[0].status == "complete"
    assert sorted(r.answer for r in fake_logging.requests) == sorted([fault, fault, "ok"])
    assert sum("retry" in line for line in lines) == 2
    assert "retry 1 of 3" in lines[0]


def test_the_deploy_lookback_retries_and_keeps_each_entry_once(fake_logging: FakeLogging) -> None:
    """The lookback shares the windows' retry: a page that fails after entries were read is
    asked again from the last timestamp read, and nothing read before is kept twice."""
    fake_logging.load(bulk_entries(1_500, T0, step_ms=10))
    fake_logging.faults = ["ok", "500"]  # the second page fails once
    lines: list[str] = []
    text = f'timestamp>="{zulu(T0)}"'
    entries, problem = read_filtered(live(fake_logging, lines=lines), text, "deploy lookback")
    assert problem is None
    assert len(entries) == len({e["insertId"] for e in entries}) == 1_500
    assert [r.answer for r in fake_logging.requests] == ["ok", "500", "ok", "ok"]
    assert lines[0].startswith("deploy lookback: 500 Internal") and "retry 1 of 3" in lines[0]
    assert lines[-1] == "deploy lookback: 1500 entries, 4 request(s)"
    # near miss: a lookback that keeps failing returns what it read, and says why it stopped
    fake_logging.requests.clear()
    fake_logging.faults = ["ok"]
    fake_logging.fault_for = lambda _: "500"
    entries, problem = read_filtered(live(fake_logging), text, "deploy lookback")
    assert len(entries) == 1_000
    assert problem is not None and problem.endswith("after 4 attempts")


def test_a_slow_answer_within_the_timeout_is_not_retried(fake_logging: FakeLogging) -> None:
    fake_logging.load(bulk_entries(5, T0))
    fake_logging.hang_s = 0.1  # shorter than the 2 s client timeout
    fake_logging.faults = ["hang"]
    pulled = pull(live(fake_logging), window(0, 60))
    assert (pulled.stats.requests, pulled.stats.retries, pulled.logs.frame.height) == (1, 0, 5)


def test_a_window_that_never_answers_is_missing_and_the_analysis_goes_on(
    fake_logging: FakeLogging,
) -> None:
    fake_logging.load(read_ndjson(SINK))
    fake_logging.fault_for = lambda _: "500"
    report = analyze(Analysis(results=[RESULTS], live=live(fake_logging)))
    assert len(fake_logging.requests) == 4  # the first try and 3 retries
    [pulled] = report.query.pulls[0].windows
    assert pulled.status == "missing"
    assert (
        pulled.reason == "500 Internal Server Error: Internal error encountered., after 4 attempts"
    )
    assert len(report.failures) == 4
    assert all(f.cause_id is None for f in report.failures)
    assert report.summary.endswith(
        "The logs may be incomplete for 1 of 1 log window(s) (see Notes)."
    )
    markdown = render(report, OutputFormat.MARKDOWN)
    assert "is missing: 500 Internal Server Error" in markdown
    assert "| 1 | 2026-11-21 23:35:35.397Z | 2026-11-21 23:36:21.499Z | 0 | missing |" in markdown


def test_one_missing_window_does_not_cost_the_others(fake_logging: FakeLogging) -> None:
    late = window(900, 960)
    fake_logging.load(bulk_entries(30, T0) + bulk_entries(30, late.start, prefix="late"))
    fake_logging.fault_for = lambda text: "429" if zulu(late.start) in text else None
    pulled = pull(live(fake_logging), window(0, 60), late)
    statuses = [(w.status, w.entries) for w in pulled.logs.pulls[0].windows]
    assert statuses == [("complete", 30), ("missing", 0)]
    assert pulled.stats.retries == 3
    assert pulled.logs.frame.height == 30


def test_a_broken_off_read_resumes_at_the_last_timestamp(fake_logging: FakeLogging) -> None:
    entries = bulk_entries(2500, T0)
    fake_logging.load(entries)
    fake_logging.faults = ["ok", "500"]
    pulled = pull(live(fake_logging), window(0, 60))
    assert pulled.logs.frame.height == 2500
    assert pulled.logs.skipped == {}  # the re-read entries at the resume point are not duplicates
    resumed = fake_logging.requests[2]
    assert f'timestamp>="{entries[999]["timestamp"]}"' in resumed.filter
    assert resumed.page_token is None
    # 1 page, the failed request, then the 1501 entries from the resume point: 2 pages
    assert [r.answer for r in fake_logging.requests] == ["ok", "500", "ok", "ok"]


def test_a_read_that_keeps_breaking_off_is_partial(fake_logging: FakeLogging) -> None:
    fake_logging.load(bulk_entries(1500, T0))
    fake_logging.faults = ["ok"]
    fake_logging.fault_for = lambda _: "500"
    [record] = pull(live(fake_logging), window(0, 60)).logs.pulls[0].windows
    assert (record.status, record.entries) == ("partial", 1000)
    assert record.reason is not None
    assert record.reason.startswith("read broke off after 12:00:04.995000Z: 500 Internal")


# --- the cache -----------------------------------------------------------------------------------


def test_the_cache_makes_the_second_run_request_free(
    fake_logging: FakeLogging, tmp_path: Path
) -> None:
    fake_logging.load(read_ndjson(SINK))
    cache = WindowCache(tmp_path / "cache")
    first = analyze(Analysis(results=[RESULTS], live=live(fake_logging, cache=cache)))
    assert len(fake_logging.requests) == 1
    lines: list[str] = []
    second = analyze(Analysis(results=[RESULTS], live=live(fake_logging, cache=cache, lines=lines)))
    assert len(fake_logging.requests) == 1
    assert lines == [
        "window 1/1 2026-11-21 23:35:35Z to 23:36:21Z: 57 entries from the cache",
        "pulled 1 window(s), 57 entries: 0 request(s), 0 retries, 1 window(s) from the cache",
    ]
    for fmt in OutputFormat:
        assert render(second, fmt) == render(first, fmt)
    # another project, service set or endpoint is another key
    analyze(Analysis(results=[RESULTS], live=live(fake_logging, cache=cache, services=("x",))))
    assert len(fake_logging.requests) == 2


def test_a_damaged_cache_file_is_a_miss(fake_logging: FakeLogging, tmp_path: Path) -> None:
    fake_logging.load(bulk_entries(5, T0))
    cache = WindowCache(tmp_path / "cache")
    pull(live(fake_logging, cache=cache), window(0, 60))
    [stored] = (tmp_path / "cache" / "windows").iterdir()
    stored.write_bytes(b"not gzip")
    assert pull(live(fake_logging, cache=cache), window(0, 60)).logs.frame.height == 5
    assert len(fake_logging.requests) == 2


# --- settling ------------------------------------------------------------------------------------


def _recent(fake: FakeLogging, clock: FakeClock) -> Window:
    """A window that ended a second ago, with entries in it and after it."""
    end = clock.now() - timedelta(seconds=1)
    fake.load(bulk_entries(200, end - timedelta(seconds=1), step_ms=10))
    fake.clock = clock.monotonic
    return Window(start=end - timedelta(seconds=30), end=end)


def test_a_fresh_window_waits_until_later_entries_are_readable(fake_logging: FakeLogging) -> None:
    clock = FakeClock(T0)
    recent = _recent(fake_logging, clock)
    fake_logging.visible_from = 12.0  # ingestion delay: nothing readable before then
    source = live(fake_logging, clock, settle_s=30.0, settle_poll_s=5.0)
    pulled = pull(source, recent)
    probes = [r for r in fake_logging.requests if r.page_size == 1]
    assert [r.at for r in probes] == [0.0, 5.0, 10.0, 15.0]
    assert all(f'(timestamp>="{zulu(recent.end)}")' in r.filter for r in probes)
    [record] = pulled.logs.pulls[0].windows
    assert (record.status, record.settle_wait_s, record.entries) == ("complete", 15.0, 101)
    assert pulled.logs.pulls[0].settle_wait_s == 15.0


def test_waiting_ends_at_the_deadline_and_says_the_window_may_be_incomplete(
    fake_logging: FakeLogging, tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    recent = _recent(fake_logging, clock)
    fake_logging.visible_from = 1e9  # never
    cache = WindowCache(tmp_path / "cache")
    pulled = pull(live(fake_logging, clock, cache, settle_s=20.0, settle_poll_s=5.0), recent)
    [record] = pulled.logs.pulls[0].windows
    assert record.status == "unsettled"
    assert record.settle_wait_s == 19.0  # the window ended 1 s before: 19 s were left
    assert record.reason == (
        "entries after its end were not readable yet when the wait for ingestion ended "
        "(19.0 s): it may be incomplete"
    )
    # an unsettled window is not cached: the next run reads it again
    before = len(fake_logging.requests)
    fake_logging.visible_from = None
    pull(live(fake_logging, FakeClock(T0 + timedelta(hours=1)), cache, settle_s=20.0), recent)
    assert len(fake_logging.requests) == before + 1


def test_an_old_window_is_read_without_waiting(fake_logging: FakeLogging) -> None:
    clock = FakeClock(T0 + timedelta(minutes=5))
    fake_logging.load(bulk_entries(10, T0))
    pulled = pull(live(fake_logging, clock, settle_s=60.0), window(0, 60))
    assert [r.page_size for r in fake_logging.requests] == [1000]
    assert clock.sleeps == []
    assert pulled.logs.pulls[0].windows[0].status == "complete"


def test_the_report_says_how_long_it_waited(fake_logging: FakeLogging) -> None:
    entries = read_ndjson(SINK)
    end = max(datetime.fromisoformat(e["timestamp"]) for e in entries)
    clock = FakeClock(end)  # analysed the moment the last line was written
    later = bulk_entries(1, end + timedelta(seconds=30), prefix="later")  # after the window
    fake_logging.load(entries + later)
    fake_logging.clock = clock.monotonic
    fake_logging.visible_from = 7.0
    source = live(fake_logging, clock, settle_s=60.0, settle_poll_s=5.0)
    report = analyze(Analysis(results=[RESULTS], live=source))
    notes = [n for n in report.notes if n.startswith("Waited")]
    assert notes == [f"Waited 10.0 s for Cloud Logging ingestion before reading project {PROJECT}."]
    assert ", after waiting 10.0 s for ingestion." in render(report, OutputFormat.MARKDOWN)
