"""The results readers on real captures from netra-systems/zen (data/results/real/PROVENANCE.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fivewhys.results import read_results

REAL = Path(__file__).parent / "data" / "results" / "real"
JUNIT_403 = REAL / "junit_20250907T152209Z_http403.xml"
JUNIT_500 = REAL / "junit_20250907T153851Z_http500.xml"
JSON_403 = REAL / "pytest_json_report_20250907T152209Z_http403.json"
JSON_500 = REAL / "pytest_json_report_20250907T153851Z_http500.json"

HANDSHAKE = "websockets.exceptions.InvalidStatus: server rejected WebSocket connection: HTTP {}"
SETUP_403 = (
    "RuntimeError: WebSocket server not available at wss://api.staging.netrasystems.ai/ws: "
    "server rejected WebSocket connection: HTTP 403"
)


def utc(h: int, m: int, s: int, us: int = 0) -> datetime:
    return datetime(2025, 9, 7, h, m, s, us, tzinfo=UTC)


@pytest.mark.parametrize("path", [JUNIT_403, JSON_403])
def test_403_run_counts_and_messages(path: Path) -> None:
    results = read_results([path])
    assert results.tests_total == 62
    assert [(f.outcome, f.phase, f.message) for f in results.failures] == [
        ("failed", "call", HANDSHAKE.format(403))
    ] * 6 + [("error", "setup", SETUP_403)] * 4
    assert all(f.event.http_status == 403 for f in results.failures)
    assert {f.event.exception_type for f in results.failures} == {"InvalidStatus", "RuntimeError"}
    assert not any(f.time_exact for f in results.failures)
    assert results.warnings == []


@pytest.mark.parametrize("path", [JUNIT_500, JSON_500])
def test_500_run_counts_and_messages(path: Path) -> None:
    results = read_results([path])
    assert results.tests_total == 61
    assert [(f.outcome, f.phase, f.event.http_status) for f in results.failures] == [
        ("failed", "call", 500)
    ] * 7 + [("error", "setup", 403)] * 3
    assert results.failures[0].message == HANDSHAKE.format(500)
    assert results.failures[0].signature == (
        "websockets.exceptions.InvalidStatus: server rejected WebSocket connection: HTTP 500"
    )
    assert results.failures[-1].message == SETUP_403


def test_junit_test_ids_match_json_report_node_ids() -> None:
    junit = read_results([JUNIT_403]).failures
    json_report = read_results([JSON_403]).failures
    assert [f.test_id for f in junit] == [f.test_id for f in json_report]
    assert junit[0].test_id == (
        "tests/e2e/staging/test_1_websocket_events_staging.py"
        "::TestWebSocketEventsStaging::test_websocket_connection"
    )


def test_junit_suite_timestamp_with_offset_is_converted_to_utc() -> None:
    # timestamp="2025-09-07T08:22:09.519854-07:00" time="44.606": the run ends 15:22:54.125854Z
    results = read_results([JUNIT_403])
    assert results.failures[-1].finished_at == utc(15, 22, 54, 125854)
    assert results.failures[0].started_at.tzinfo == UTC


def test_windows_are_laid_back_from_the_run_end() -> None:
    """The run spent 23 s outside tests (collection). Laid back from the end, the last three
    setup errors (HTTP 403) end at 15:39:42.03, 42.60, 43.06, where the staging server logged
    its three `"WebSocket /ws" 403` lines (15:39:41.96, 42.60, 43.13); laid forward from the
    start they would sit 23 s earlier, with no log line near them."""
    results = read_results([JUNIT_500])
    assert [f.finished_at for f in results.failures[-3:]] == [
        utc(15, 39, 42, 31353),
        utc(15, 39, 42, 598353),
        utc(15, 39, 43, 61353),
    ]
    assert results.failures[0].started_at == utc(15, 39, 18, 879353)
    assert any("23.13 s of the 51.08 s run lies outside any test" in n for n in results.notes)


def test_json_report_and_junit_of_one_run_agree_on_times() -> None:
    junit = read_results([JUNIT_500]).failures
    json_report = read_results([JSON_500]).failures
    for a, b in zip(junit, json_report, strict=True):
        assert abs((a.finished_at - b.finished_at).total_seconds()) < 0.02


def test_json_report_run_span_is_created_minus_duration() -> None:
    # created=1757259583.052481 (session end), duration=51.068...: first setup error ends at
    # 15:39:42.020971, 0.01 s before JUnit's estimate from its own suite timestamp
    failures = read_results([JSON_500]).failures
    assert failures[-3].finished_at == datetime(2025, 9, 7, 15, 39, 42, 20971, tzinfo=UTC)
    assert failures[-1].finished_at == datetime(2025, 9, 7, 15, 39, 43, 50147, tzinfo=UTC)


def test_json_report_source_and_test_file() -> None:
    failure = read_results([JSON_403]).failures[0]
    assert failure.source == f"{JSON_403}#tests[7]"
    assert failure.test_file == "tests/e2e/staging/test_1_websocket_events_staging.py"
    # its `lineno` (216) is of the decorator's module, staging_test_base.py: not kept
    assert failure.test_line is None


def test_junit_source_names_the_testcase_line() -> None:
    failures = read_results([JUNIT_500]).failures
    lines = JUNIT_500.read_text(encoding="utf-8").splitlines()
    for failure in failures:
        path, line = failure.source.rsplit(":", 1)
        assert path == str(JUNIT_500)
        name = failure.test_id.rsplit("::", 1)[1]
        assert '<testcase classname="' in lines[int(line) - 1]
        assert f'name="{name}"' in lines[int(line) - 1]


def test_same_run_in_two_formats_is_kept_once() -> None:
    results = read_results([JUNIT_403, JSON_403])
    assert len(results.failures) == 10
    assert all("#tests[" in f.source for f in results.failures)
    assert results.tests_total == 62
    assert f"{JUNIT_403}: 10 failure(s) also in {JSON_403} (same run): kept {JSON_403}'s" in (
        results.notes
    )


def test_two_runs_are_both_kept_and_sorted() -> None:
    results = read_results([JUNIT_500, JUNIT_403])
    assert len(results.failures) == 20
    assert results.tests_total == 62  # distinct tests: the second run lacks test_004 only
    ends = [(f.finished_at, f.test_id) for f in results.failures]
    assert ends == sorted(ends)
    assert results.failures[0].finished_at.minute == 22


def test_naive_timestamp_warns_without_tz_and_uses_tz_when_given(tmp_path: Path) -> None:
    """Older pytest wrote the suite timestamp in local time without an offset."""
    naive = tmp_path / "junit.xml"
    naive.write_bytes(
        JUNIT_403.read_bytes().replace(
            b"2025-09-07T08:22:09.519854-07:00", b"2025-09-07T08:22:09.519854"
        )
    )
    as_utc = read_results([naive])
    assert as_utc.failures[-1].finished_at == utc(8, 22, 54, 125854)
    assert len(as_utc.warnings) == 1
    assert "has no UTC offset" in as_utc.warnings[0] and "--tz" in as_utc.warnings[0]
    local = read_results([naive], tz=ZoneInfo("America/Los_Angeles"))
    assert local.warnings == []
    original = read_results([JUNIT_403]).failures
    assert [(f.started_at, f.finished_at) for f in local.failures] == [
        (f.started_at, f.finished_at) for f in original
    ]
