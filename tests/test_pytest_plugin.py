"""`pytest --fivewhys` with pytest's own pytester: exact windows and ids turn a time-only
attribution into a keyed one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_logging import FakeLogging, fake_logging

from fivewhys.pipeline import Analysis, analyze
from fivewhys.results import read_results

__all__ = ["fake_logging"]  # the fixture, used by name

INNER_TEST = """
import json
import time
from datetime import datetime, timezone

from websockets.exceptions import ConnectionClosedError
from websockets.frames import Close

LOGS = {logs!r}
RESOURCE = {{"type": "cloud_run_revision", "labels": {{"project_id": "p",
    "service_name": "chat-backend", "revision_name": "chat-backend-00001-abc"}}}}


def log(n, message, **fields):
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    entry = {{"insertId": f"entry-{{n}}", "timestamp": now, "severity": "ERROR",
             "logName": "projects/p/logs/run.googleapis.com%2Fstdout", "resource": RESOURCE,
             "jsonPayload": {{"message": message, **fields}}}}
    with open(LOGS, "a") as handle:
        handle.write(json.dumps(entry) + "\\n")


def test_passes():
    pass


def test_chat_thread_bootstraps():
    print("connected: connection_id=conn_a1b2c3d4e5f6 user_id=usr_0001")
    failed = "Factory SSOT validation failed: user context missing 'thread_id'"
    log(1, failed, connection_id="conn_a1b2c3d4e5f6")
    log(2, failed, connection_id="conn_ffffffffffff")  # another user's connection
    time.sleep(0.05)
    raise ConnectionClosedError(Close(1011, "Internal error"), Close(1011, "Internal error"), True)
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, tmp_path: Path) -> Path:
    logs = tmp_path / "logs.ndjson"
    pytester.makepyfile(test_e2e=INNER_TEST.format(logs=str(logs)))
    return logs


def _only_failure(path: Path):  # type: ignore[no-untyped-def]
    (failure,) = read_results([path]).failures
    return failure


def test_without_the_plugin_the_failure_is_joined_by_time_only(
    pytester: pytest.Pytester, suite: Path
) -> None:
    junit = pytester.path / "junit.xml"
    pytester.runpytest("--junitxml", str(junit)).assert_outcomes(passed=1, failed=1)
    failure = _only_failure(junit)
    assert not failure.time_exact
    assert failure.ids.is_empty()
    report = analyze(Analysis(results=[junit], logs=[str(suite)]))
    assert report.failures[0].cause_id is None
    assert {e.join_key for e in report.failures[0].candidates} == {"time"}


def test_with_the_plugin_the_same_failure_is_proven_by_its_connection(
    pytester: pytest.Pytester, suite: Path
) -> None:
    junit = pytester.path / "junit.xml"
    sidecar = pytester.path / "fivewhys.jsonl"
    result = pytester.runpytest(
        "--fivewhys", "--junitxml", str(junit), "--fivewhys-sidecar", str(sidecar)
    )
    result.assert_outcomes(passed=1, failed=1)
    for results in (junit, sidecar):
        failure = _only_failure(results)
        assert failure.time_exact, results
        assert failure.ids.connection_ids == ("conn_a1b2c3d4e5f6",)
        assert failure.started_at < failure.finished_at
        report = analyze(Analysis(results=[results], logs=[str(suite)]))
        (explained,) = report.failures
        assert explained.cause_id == "C1"
        assert explained.cites[0].insert_id == "entry-1"
        assert explained.cites[0].join_key == "connection_id"
        # another user's line is cited nowhere: not by the failure, not in its cause's lines
        assert "entry-2" not in {e.insert_id for e in report.lines_of(explained)}
        assert "entry-2" not in {e.insert_id for e in report.causes[0].evidence}


def test_analysis_at_session_end_names_the_report(pytester: pytest.Pytester, suite: Path) -> None:
    target = pytester.path / "rca.json"
    result = pytester.runpytest(
        "--fivewhys-analyze", "--fivewhys-logs", str(suite), "--fivewhys-report", str(target)
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"fivewhys: report written to {target}: 1 failure(s), 1 cause(s)"])
    assert json.loads(target.read_text())["causes"][0]["rule_id"] == "ws-factory-validation-1011"


def test_analysis_needs_logs(pytester: pytest.Pytester, suite: Path) -> None:
    result = pytester.runpytest("--fivewhys-analyze")
    result.stdout.fnmatch_lines(
        ["fivewhys: give --fivewhys-logs or --fivewhys-service, nothing to analyse"]
    )


def test_fixture_records_ids_and_gives_trace_headers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_trace="""
        def test_trace(fivewhys_ids, record_property):
            trace = fivewhys_ids.new_trace()
            headers = trace.headers()
            assert headers["X-Cloud-Trace-Context"].startswith(trace.trace_id + "/")
            assert headers["traceparent"].startswith("00-" + trace.trace_id + "-")
            fivewhys_ids.record(user_id="usr_9")
            record_property("seen_trace", trace.trace_id)
            assert False, "fail to keep the record"
        """
    )
    junit = pytester.path / "junit.xml"
    pytester.runpytest("--fivewhys", "--junitxml", str(junit)).assert_outcomes(failed=1)
    failure = _only_failure(junit)
    assert failure.ids.user_ids == ("usr_9",)
    assert failure.ids.traces == (failure.properties["seen_trace"],)


def test_off_unless_asked(pytester: pytest.Pytester, suite: Path) -> None:
    junit = pytester.path / "junit.xml"
    pytester.runpytest("--junitxml", str(junit))
    assert "fivewhys.start" not in junit.read_text()


def test_analysis_pulls_live_logs_for_the_failure_windows(
    pytester: pytest.Pytester,
    suite: Path,
    fake_logging: FakeLogging,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = pytester.path / "rca.md"
    # the project's settings reach the plugin: no waiting for ingestion against the fake
    pytester.makepyprojecttoml("[tool.fivewhys.logging]\nsettle_s = 0\n")
    monkeypatch.setenv("FIVEWHYS_CACHE_DIR", str(pytester.path / "cache"))
    monkeypatch.setenv("FIVEWHYS_LOGGING_ENDPOINT", fake_logging.url)

    def serve_what_the_suite_logged(text: str) -> None:
        # the inner test writes its log lines while it runs; serve them as Cloud Logging would
        fake_logging.load([json.loads(line) for line in suite.read_text().splitlines()])
        return None

    fake_logging.fault_for = serve_what_the_suite_logged
    result = pytester.runpytest(
        "--fivewhys-analyze",
        "--fivewhys-project",
        "p",
        "--fivewhys-service",
        "chat-backend",
        "--fivewhys-report",
        str(target),
    )
    result.stdout.fnmatch_lines([f"fivewhys: report written to {target}: 1 failure(s), 1 cause(s)"])
    assert "proven by connection\\_id" in target.read_text()
    assert len(fake_logging.requests) >= 1
