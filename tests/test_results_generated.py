"""The results readers on real pytest 9 output of the tiny suite in data/results/suite/.

``generated/`` holds one run written three ways (xunit2 JUnit, report log, json report) and a
second run in xunit1; ``regenerate.py`` reproduces them. Pinned values (times, ports) come
from the committed files and change when they are regenerated.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fivewhys.model import Failure
from fivewhys.results import read_results

DATA = Path(__file__).parent / "data" / "results"
GENERATED = DATA / "generated"
SUITE_FILE = DATA / "suite" / "tests" / "e2e" / "e2e_chat.py"
XUNIT2 = GENERATED / "junit_xunit2.xml"
XUNIT1 = GENERATED / "junit_xunit1.xml"
REPORTLOG = GENERATED / "reportlog.jsonl"
JSON_REPORT = GENERATED / "json_report.json"
SAME_RUN = [XUNIT2, REPORTLOG, JSON_REPORT]

CLASS = "tests/e2e/e2e_chat.py::TestWebSocketChat::"
MODULE = "tests/e2e/e2e_chat.py::"
EXPECTED = [
    (CLASS + "test_agent_run_closed_1011", "failed", "call", "ConnectionClosedError"),
    (CLASS + "test_handshake_rejected_403", "failed", "call", "InvalidStatus"),
    (CLASS + "test_events_after_auth", "error", "setup", "RuntimeError"),
    (CLASS + "test_wait_for_agent_timeout", "failed", "call", "TimeoutError"),
    (MODULE + "test_list_threads_500", "failed", "call", "HTTPStatusError"),
    (MODULE + "test_reply_has_thread", "failed", "call", "AssertionError"),
    (MODULE + "test_reply_has_thread", "error", "teardown", "RuntimeError"),
]
CONNECTION_ID = "ws-conn-7f3a9c"
USER_ID = "user-4242"
TRACE = "105445aa7843bc8bf206b12000100000"


def by_name(failures: list[Failure], name: str, phase: str = "call") -> Failure:
    return next(f for f in failures if f.test_id.endswith(f"::{name}") and f.phase == phase)


@pytest.mark.parametrize("path", [XUNIT2, XUNIT1, REPORTLOG, JSON_REPORT], ids=lambda p: p.name)
def test_every_format_yields_the_same_failures(path: Path) -> None:
    results = read_results([path])
    assert results.tests_total == 10
    assert [
        (f.test_id, f.outcome, f.phase, f.event.exception_type) for f in results.failures
    ] == EXPECTED
    assert results.warnings == []


@pytest.mark.parametrize("path", [XUNIT2, XUNIT1, REPORTLOG, JSON_REPORT], ids=lambda p: p.name)
def test_client_events(path: Path) -> None:
    failures = read_results([path]).failures
    closed = by_name(failures, "test_agent_run_closed_1011")
    assert closed.message == (
        "websockets.exceptions.ConnectionClosedError: received 1011 (internal error) "
        "internal error; then sent 1011 (internal error) internal error"
    )
    assert (closed.event.close_code, closed.event.close_direction) == (1011, "received")
    assert closed.event.close_reason == "internal error"
    rejected = by_name(failures, "test_handshake_rejected_403")
    assert rejected.message == (
        "websockets.exceptions.InvalidStatus: server rejected WebSocket connection: HTTP 403"
    )
    assert rejected.event.http_status == 403
    setup = by_name(failures, "test_events_after_auth", "setup")
    assert setup.message.startswith("RuntimeError: WebSocket server not available at ws://")
    assert setup.message.endswith("/ws/forbidden: server rejected WebSocket connection: HTTP 403")
    assert setup.event.http_status == 403
    http = by_name(failures, "test_list_threads_500")
    assert http.message.splitlines()[1] == (
        "For more information check: https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/500"
    )
    assert (http.event.http_status, http.event.url_path) == (500, "/api/threads")
    assert http.signature == (
        "httpx.HTTPStatusError: Server error '<NUM> Internal Server Error' for url '<URL>'"
    )
    assert by_name(failures, "test_wait_for_agent_timeout").event.timeout
    teardown = by_name(failures, "test_reply_has_thread", "teardown")
    assert (
        teardown.message == "RuntimeError: cleanup failed: thread thread-0042 still has 1 open run"
    )
    assertion = by_name(failures, "test_reply_has_thread")
    assert assertion.message.startswith("AssertionError: assert 'thread-0041' == 'thread-0042'\n")


@pytest.mark.parametrize("path", [XUNIT2, XUNIT1, REPORTLOG, JSON_REPORT], ids=lambda p: p.name)
def test_ids_from_record_property(path: Path) -> None:
    failure = by_name(read_results([path]).failures, "test_wait_for_agent_timeout")
    assert failure.properties["connection_id"] == CONNECTION_ID
    assert failure.ids.connection_ids == (CONNECTION_ID,)
    assert failure.ids.user_ids == (USER_ID,)


@pytest.mark.parametrize("path", [XUNIT2, REPORTLOG, JSON_REPORT], ids=lambda p: p.name)
def test_ids_from_captured_output(path: Path) -> None:
    """Captured stdout (the welcome frame) and log (the trace header) of the failing test;
    xunit1 was written without captured output (junit_logging=no, pytest's default)."""
    failures = read_results([path]).failures
    closed = by_name(failures, "test_agent_run_closed_1011")
    assert f'"connection_id": "{CONNECTION_ID}"' in closed.details
    assert closed.ids.connection_ids == (CONNECTION_ID,)
    assert closed.ids.user_ids == (USER_ID,)
    assert by_name(failures, "test_list_threads_500").ids.traces == (TRACE,)


def test_xunit1_without_captured_output_has_no_ids_from_it() -> None:
    closed = by_name(read_results([XUNIT1]).failures, "test_agent_run_closed_1011")
    assert closed.ids.is_empty()


def test_reportlog_times_are_exact_from_setup_start_to_failing_phase_stop() -> None:
    failures = read_results([REPORTLOG]).failures
    closed = by_name(failures, "test_agent_run_closed_1011")
    assert closed.time_exact
    # line 10, setup "start": 1795304496.836951; line 11, call "stop": 1795304496.8710492
    assert closed.started_at == datetime(2026, 11, 21, 23, 41, 36, 836951, tzinfo=UTC)
    assert closed.finished_at == datetime(2026, 11, 21, 23, 41, 36, 871049, tzinfo=UTC)
    teardown = by_name(failures, "test_reply_has_thread", "teardown")
    assert teardown.started_at == by_name(failures, "test_reply_has_thread").started_at
    assert teardown.finished_at - teardown.started_at == timedelta(microseconds=17053)
    assert closed.source == f"{REPORTLOG}:11"
    assert read_results([REPORTLOG]).notes == []


def test_junit_offset_timestamp_is_converted_to_utc() -> None:
    # timestamp="2026-11-21T15:41:34.882158-08:00" time="3.536": the run ends 23:41:38.418158Z,
    # and the three tests after this one took 0.382 s
    results = read_results([XUNIT2])
    teardown = by_name(results.failures, "test_reply_has_thread", "teardown")
    assert teardown.finished_at == datetime(2026, 11, 21, 23, 41, 38, 36158, tzinfo=UTC)
    assert not teardown.time_exact
    assert results.notes == [
        f"{XUNIT2}: per-test windows are approximate (run end minus the durations of this and "
        "later tests; 2.31 s of the 3.54 s run lies outside any test, taken as collection "
        "before the first)"
    ]


@pytest.mark.parametrize("path", [XUNIT2, JSON_REPORT], ids=lambda p: p.name)
def test_estimated_windows_are_close_to_the_exact_ones_and_never_early(path: Path) -> None:
    """Against the report log of the same run: laid back from the run's end, each estimate is
    late by the pytest overhead after the test (0.07-0.13 s per later failure, writing its
    traceback); laid forward from the start it would be 1.75 s early (the slow collection)."""
    exact = {(f.test_id, f.phase): f for f in read_results([REPORTLOG]).failures}
    for estimate in read_results([path]).failures:
        truth = exact[(estimate.test_id, estimate.phase)]
        late = (estimate.started_at - truth.started_at).total_seconds()
        assert -0.005 <= late <= 1.0, estimate.test_id


def test_junit_test_ids_and_sources() -> None:
    failures = read_results([XUNIT2]).failures
    lines = XUNIT2.read_text(encoding="utf-8").splitlines()
    for failure in failures:
        line = int(failure.source.removeprefix(f"{XUNIT2}:"))
        assert f'name="{failure.test_id.rsplit("::", 1)[1]}"' in lines[line - 1]
    # a call failure and its teardown error are two testcase elements, of one test
    call, teardown = failures[-2:]
    assert [call.source, teardown.source] == [f"{XUNIT2}:339", f"{XUNIT2}:351"]
    assert teardown.started_at == call.started_at
    assert teardown.finished_at - call.finished_at == timedelta(milliseconds=1)  # its time="0.001"


@pytest.mark.parametrize("path", [XUNIT1, REPORTLOG], ids=lambda p: p.name)
def test_test_file_and_line_point_at_the_test(path: Path) -> None:
    suite_lines = SUITE_FILE.read_text(encoding="utf-8").splitlines()
    for failure in read_results([path]).failures:
        assert failure.test_file == "tests/e2e/e2e_chat.py"
        assert failure.test_line is not None
        name = failure.test_id.rsplit("::", 1)[1]
        assert f"def {name}(" in suite_lines[failure.test_line - 1]


def test_suite_properties_reach_every_junit_failure() -> None:
    for failure in read_results([XUNIT2]).failures:
        assert failure.properties["environment"] == "local-e2e"


def test_one_run_in_three_formats_keeps_the_exact_copies() -> None:
    results = read_results(SAME_RUN)
    assert len(results.failures) == 7
    assert all(f.time_exact and f.source.startswith(str(REPORTLOG)) for f in results.failures)
    assert results.tests_total == 10
    assert f"{XUNIT2}: 7 failure(s) also in {REPORTLOG} (same run): kept {REPORTLOG}'s" in (
        results.notes
    )
    assert f"{JSON_REPORT}: 7 failure(s) also in {REPORTLOG} (same run): kept {REPORTLOG}'s" in (
        results.notes
    )


def test_another_run_is_not_merged_away() -> None:
    results = read_results([XUNIT1, *SAME_RUN])
    assert len(results.failures) == 14
    assert results.tests_total == 10
    ends = [(f.finished_at, f.test_id) for f in results.failures]
    assert ends == sorted(ends)
    assert [f.source.startswith(str(XUNIT1)) for f in results.failures] == [False] * 7 + [True] * 7


def test_bare_testsuite_root(tmp_path: Path) -> None:
    """Other producers (and old pytest) write <testsuite> with no <testsuites> wrapper."""
    text = XUNIT1.read_text(encoding="utf-8")
    bare = tmp_path / "bare.xml"
    bare.write_text(
        text.replace('<testsuites name="pytest tests">', "").replace("</testsuites>", ""),
        encoding="utf-8",
    )
    assert [(f.test_id, f.phase, f.started_at) for f in read_results([bare]).failures] == [
        (f.test_id, f.phase, f.started_at) for f in read_results([XUNIT1]).failures
    ]


def test_the_same_file_given_twice_is_read_once() -> None:
    results = read_results([REPORTLOG, REPORTLOG])
    assert len(results.failures) == 7
    assert f"{REPORTLOG}: 7 failure(s) also in {REPORTLOG} (same run): kept {REPORTLOG}'s" in (
        results.notes
    )


def test_two_files_of_one_format_are_two_runs_even_at_the_same_time(tmp_path: Path) -> None:
    """Two CI jobs running the suite at once each write a JUnit file; neither is dropped."""
    other_job = tmp_path / "junit_job2.xml"
    other_job.write_bytes(XUNIT2.read_bytes())
    results = read_results([XUNIT2, other_job])
    assert len(results.failures) == 14
    assert not any("same run" in note for note in results.notes)
