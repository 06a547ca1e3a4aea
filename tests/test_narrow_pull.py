"""Narrow pulls (the default) against the fake endpoint: the same report as `--pull all` on
every scenario of the suite, at a fraction of the requests on a busy window."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from fake_logging import (
    FakeClock,
    FakeLogging,
    bulk_entries,
    busy_entries,
    fake_logging,
    read_ndjson,
)

from fivewhys.config import LoggingSettings
from fivewhys.logs.cache import WindowCache
from fivewhys.logs.live import WHOLE_PAGES, LiveSource, NarrowPlan, Need, Target, pull_logs
from fivewhys.logs.query import MAX_FILTER_CHARS, keyed_clauses
from fivewhys.model import Report, Window
from fivewhys.pipeline import Analysis, OutputFormat, analyze, render

__all__ = ["fake_logging"]

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SCENARIOS = EXAMPLES / "scenarios"
#: (results, logs served by the fake, project rules, service)
CASES = {
    "example": (EXAMPLES / "results/report-log.jsonl", EXAMPLES / "logs/sink.ndjson", None),
    "example-junit": (EXAMPLES / "results/junit.xml", EXAMPLES / "logs/sink.ndjson", None),
    "all-modes": (
        SCENARIOS / "all-modes/results/report-log.jsonl",
        SCENARIOS / "all-modes/logs/sink.ndjson",
        SCENARIOS / "all-modes/rules",
    ),
    "all-modes-junit": (
        SCENARIOS / "all-modes/results/junit.xml",
        SCENARIOS / "all-modes/logs/sink.ndjson",
        SCENARIOS / "all-modes/rules",
    ),
    "node-chat": (
        SCENARIOS / "node-chat/results/report-log.jsonl",
        SCENARIOS / "node-chat/logs/sink.ndjson",
        None,
    ),
}


def source(
    fake: FakeLogging,
    services: tuple[str, ...],
    pull: Literal["narrow", "all"],
    cache: WindowCache | None = None,
) -> LiveSource:
    return LiveSource(
        project="fivewhys-example",
        services=services,
        endpoint=fake.url,
        settings=LoggingSettings(settle_s=0, requests_per_s=1000, backoff_s=0.001),
        clock=FakeClock(datetime(2030, 1, 1, tzinfo=UTC)),
        rng=random.Random(1),
        pull=pull,
        cache=cache,
    )


def _services(entries: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(sorted({e["resource"]["labels"]["service_name"] for e in entries}))


def what_was_read(text: str) -> str:
    """The report less what says how much was read (a narrow pull reads less, by design)."""
    text = re.sub(r"\d+ log entries from", "N log entries from", text)
    text = re.sub(r'"log_entries": \d+', '"log_entries": N', text)
    text = re.sub(r'"entries": \d+', '"entries": N', text)
    text = re.sub(r'"pages": \d+', '"pages": N', text)
    # when it was read: the rate limit's waits move the fake clock by the requests made
    text = re.sub(r"2030-01-01[T ]00:00:00(\.\d+)?Z?", "PULLED_AT", text)
    # the window table's Entries column
    return re.sub(r"(\| \d+ \| [^|]+ \| [^|]+ \| )\d+ \|", r"\1N |", text)


@pytest.mark.parametrize("case", sorted(CASES))
def test_narrow_gives_the_full_pulls_report(fake_logging: FakeLogging, case: str) -> None:
    results, logs, rules = CASES[case]
    entries = read_ndjson(logs)
    fake_logging.load(entries)
    services = _services(entries)
    reports: dict[str, dict[str, str]] = {}
    requests: dict[str, int] = {}
    for pull in ("all", "narrow"):
        before = len(fake_logging.requests)
        report = analyze(
            Analysis(
                results=[results],
                rule_dirs=[rules] if rules else [],
                live=source(fake_logging, services, pull),
            )
        )
        requests[pull] = len(fake_logging.requests) - before
        reports[pull] = {f.value: render(report, f) for f in OutputFormat}
        assert report.failures
    for fmt in OutputFormat:
        assert what_was_read(reports["narrow"][fmt.value]) == what_was_read(
            reports["all"][fmt.value]
        )
    assert all(r.answer == "ok" for r in fake_logging.requests)
    assert json.loads(reports["all"]["json"])["causes"]  # the case explains something
    assert requests["narrow"] >= 1


# --- a busy window: other users' errors everywhere -----------------------------------------------

#: the example run's window (its first failure's start less 30 s, to its last end plus 10 s)
BUSY_START = datetime(2026, 11, 21, 23, 35, 35, tzinfo=UTC)
EXAMPLE_RESULTS = EXAMPLES / "results/report-log.jsonl"


def _outcomes(report: Report) -> list[tuple[str, str, str | None, str | None, list[str]]]:
    return [
        (f.test_id, f.bucket, f.rule_id, f.cause_id, [e.insert_id for e in report.lines_of(f)])
        for f in report.failures
    ]


def test_a_busy_window_costs_at_most_20_requests_and_explains_the_same(
    fake_logging: FakeLogging,
) -> None:
    # 100,000 entries of other users in the run's window, a third WARNING or ERROR lines,
    # many the very handler error and close the failures hit
    busy = busy_entries(100_000, BUSY_START, span_s=46.0)
    assert sum(e["severity"] in ("WARNING", "ERROR") for e in busy) == 33_334
    fake_logging.load(read_ndjson(EXAMPLES / "logs/sink.ndjson") + busy)
    reports, requests = {}, {}
    for pull in ("narrow", "all"):
        before = len(fake_logging.requests)
        reports[pull] = analyze(
            Analysis(results=[EXAMPLE_RESULTS], live=source(fake_logging, ("chat-backend",), pull))
        )
        requests[pull] = len(fake_logging.requests) - before
    assert requests == {"narrow": 6, "all": 100}
    assert all(r.answer == "ok" for r in fake_logging.requests)
    assert _outcomes(reports["narrow"]) == _outcomes(reports["all"])
    assert [f.bucket for f in reports["narrow"].failures].count("cause") == 3
    # the client-side failure's window was too busy to read whole: its count is not claimed
    narrow_note = {f.test_id: f.note for f in reports["narrow"].failures}
    full_note = {f.test_id: f.note for f in reports["all"].failures}
    ping = "examples/e2e/test_chat.py::test_ping_reply_format"
    assert "ids not counted (a narrow pull does not read them" in narrow_note[ping]
    assert "96331 carry another test's or user's ids" in full_note[ping]
    assert {k: v for k, v in narrow_note.items() if k != ping} == {
        k: v for k, v in full_note.items() if k != ping
    }
    assert reports["narrow"].log_entries < 2_100  # of 100,057


# --- the plan's parts against the fake -----------------------------------------------------------

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _plan(targets: list[Target]) -> NarrowPlan:
    """A plan whose keyed lines leave nothing open: only the keyed queries run."""
    return NarrowPlan(targets=tuple(targets), time_clause=None, assess=lambda logs: Need())


def _with_id(entries: list[dict[str, Any]], ids: list[str]) -> list[dict[str, Any]]:
    """The entries, each naming one of `ids` in its text (round robin)."""
    for n, entry in enumerate(entries):
        entry["textPayload"] = f"handled message for connection_id={ids[n % len(ids)]}"
    return entries


def test_many_ids_split_the_keyed_query_under_20000_characters(fake_logging: FakeLogging) -> None:
    window = Window(start=T0, end=T0 + timedelta(seconds=60))
    ids = [f"conn_{n:016x}" for n in range(2_000)]  # 2,000 x 21 characters: 42,000 and more
    named = _with_id(bulk_entries(3_000, T0, step_ms=10), ids[::4])  # every 4th id appears
    others = _with_id(bulk_entries(500, T0, step_ms=10, prefix="other"), ["conn_somebody_else"])
    fake_logging.load(named + others)
    live = source(fake_logging, ("chat-backend",), "narrow")
    pulled = pull_logs(live, [window], narrow=_plan([Target(window, tuple(ids), None)]))
    clauses = keyed_clauses([window], ("chat-backend",), None, ids)
    assert len(clauses) == 3
    filters = [r.filter for r in fake_logging.requests]
    assert all(len(f) <= MAX_FILTER_CHARS for f in filters)
    assert all(r.answer == "ok" for r in fake_logging.requests)
    # every id is asked for once, and every line naming one is read, nothing else
    assert sum(f.count('"conn_') for f in set(filters)) == 2_000
    assert sorted(pulled.logs.frame.get_column("insert_id")) == sorted(e["insertId"] for e in named)


def test_a_narrow_query_broken_off_resumes_at_the_last_timestamp(
    fake_logging: FakeLogging,
) -> None:
    window = Window(start=T0, end=T0 + timedelta(seconds=60))
    entries = _with_id(bulk_entries(2_500, T0, step_ms=10), ["conn_0123456789ab"])
    fake_logging.load(entries)
    fake_logging.faults = ["ok", "500"]  # the second page fails once
    live = source(fake_logging, ("chat-backend",), "narrow")
    target = Target(window, ("conn_0123456789ab",), None)
    pulled = pull_logs(live, [window], narrow=_plan([target]))
    assert pulled.logs.frame.height == 2_500
    assert pulled.logs.skipped == {}  # re-read entries at the resume point are not duplicates
    assert pulled.stats.retries == 1
    assert [r.answer for r in fake_logging.requests] == ["ok", "500", "ok", "ok"]
    resumed = fake_logging.requests[2]
    assert f'timestamp>="{entries[999]["timestamp"]}"' in resumed.filter
    assert '"conn_0123456789ab"' in resumed.filter  # still the keyed query, not a whole read
    assert resumed.page_token is None
    [record] = pulled.logs.pulls[0].windows
    assert record.status == "complete"


def test_a_narrow_query_that_keeps_failing_leaves_its_window_partial(
    fake_logging: FakeLogging,
) -> None:
    window = Window(start=T0, end=T0 + timedelta(seconds=60))
    fake_logging.load(_with_id(bulk_entries(1_500, T0, step_ms=10), ["conn_0123456789ab"]))
    fake_logging.faults = ["ok"]
    fake_logging.fault_for = lambda _: "500"
    live = source(fake_logging, ("chat-backend",), "narrow")
    pulled = pull_logs(live, [window], narrow=_plan([Target(window, ("conn_0123456789ab",), None)]))
    [record] = pulled.logs.pulls[0].windows
    assert (record.status, record.entries) == ("partial", 1_000)
    assert record.reason is not None and record.reason.startswith("keyed lines: 500 Internal")


def test_narrow_queries_are_cached_and_the_second_run_is_request_free(
    fake_logging: FakeLogging, tmp_path: Path
) -> None:
    busy = busy_entries(5_000, BUSY_START, span_s=46.0)  # the unexplained window: 3 pages
    fake_logging.load(read_ndjson(EXAMPLES / "logs/sink.ndjson") + busy)
    cache = WindowCache(tmp_path / "cache")
    first = analyze(
        Analysis(
            results=[EXAMPLE_RESULTS],
            live=source(fake_logging, ("chat-backend",), "narrow", cache),
        )
    )
    sent = len(fake_logging.requests)
    # the keyed query, time lines for the two kinds of failure (with and without a connection
    # id), the whole window cut at WHOLE_PAGES pages, the rest of it less others' lines
    assert sent == 1 + 2 + WHOLE_PAGES + 1
    second = analyze(
        Analysis(
            results=[EXAMPLE_RESULTS],
            live=source(fake_logging, ("chat-backend",), "narrow", cache),
        )
    )
    assert len(fake_logging.requests) == sent
    for fmt in OutputFormat:  # the same but for when it was pulled (the clock the waits move)
        assert what_was_read(render(second, fmt)) == what_was_read(render(first, fmt))
    assert second.failures == first.failures
    # --pull all asks its own query: not served by the narrow pull's cache
    analyze(
        Analysis(
            results=[EXAMPLE_RESULTS], live=source(fake_logging, ("chat-backend",), "all", cache)
        )
    )
    assert len(fake_logging.requests) > sent


def test_a_quiet_window_is_read_whole_and_counts_what_it_sets_aside(
    fake_logging: FakeLogging,
) -> None:
    # under WHOLE_PAGES pages, the unexplained failure's report is the full pull's, count too
    fake_logging.load(read_ndjson(EXAMPLES / "logs/sink.ndjson"))
    report = analyze(
        Analysis(results=[EXAMPLE_RESULTS], live=source(fake_logging, ("chat-backend",), "narrow"))
    )
    notes = " ".join(f.note for f in report.failures)
    assert "41 carry another test's or user's ids" in notes
    assert "not counted" not in notes
