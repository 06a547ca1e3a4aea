"""Suites as they run in CI: pytest-rerunfailures' attempts (flaky tests), pytest-timeout's kills
and several shards of one run. Every results file here is written by the real plugin, running a
small suite in a subprocess; its server lines are written by the suite in Cloud Run's shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fivewhys.ci import with_history
from fivewhys.cli import cli
from fivewhys.history import classify, record
from fivewhys.ids import extract_ids, observed_text
from fivewhys.pipeline import Analysis, OutputFormat, analyze, render
from fivewhys.results import read_results
from fivewhys.results.common import own_frames

#: the suite writes the server's lines as Cloud Run keeps an app's structured stdout (the agent
#: lifts `severity`; https://cloud.google.com/logging/docs/structured-logging), as the plugin
#: tests do; a marker file makes the first attempt fail and the rerun pass
SUITE = """
import json
import pathlib
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


def test_ok():
    pass


def test_chat_thread_bootstraps():
    marker = pathlib.Path(__file__).with_name("first-attempt-done")
    if marker.exists():
        return
    marker.write_text("1")
    print("connected: connection_id=conn_a1b2c3d4e5f6 user_id=usr_0001")
    failed = "Factory SSOT validation failed: user context missing 'thread_id'"
    log(1, failed, connection_id="conn_a1b2c3d4e5f6")
    time.sleep(0.05)
    raise ConnectionClosedError(Close(1011, "Internal error"), Close(1011, "Internal error"), True)


def test_message_format():
    assert {{"type": "reply"}} == {{"type": "message"}}
"""

FLAKY = "test_e2e.py::test_chat_thread_bootstraps"
ALWAYS = "test_e2e.py::test_message_format"


def run_pytest(where: Path, *args: str) -> str:
    """The run's console output (stdout and stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def rerun(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run with --reruns 1 writing all three formats."""
    where = tmp_path_factory.mktemp("rerun")
    (where / "test_e2e.py").write_text(SUITE.format(logs=str(where / "logs.ndjson")))
    run_pytest(
        where,
        "--reruns",
        "1",
        "--report-log",
        "rl.jsonl",
        "--junitxml",
        "ju.xml",
        "--json-report",
        "--json-report-file",
        "jr.json",
    )
    return where


def test_reportlog_rerun_then_pass_is_flaky_with_its_attempts_cause(rerun: Path) -> None:
    report = analyze(Analysis(results=[rerun / "rl.jsonl"], logs=[str(rerun / "logs.ndjson")]))
    flaky = [f for f in report.failures if f.test_id == FLAKY]
    assert [(f.attempt, f.passed_on) for f in flaky] == [(1, 2)]
    assert flaky[0].cause_id is not None
    assert flaky[0].cites[0].insert_id == "entry-1"
    assert flaky[0].cites[0].join_key == "connection_id"
    (cause,) = [c for c in report.causes if c.id == flaky[0].cause_id]
    assert cause.intermittent and cause.flaky == 1
    assert report.flaky_tests() == [FLAKY]
    # near miss: failing on every attempt is a real failure, each attempt its own window
    always = [f for f in report.failures if f.test_id == ALWAYS]
    assert [(f.attempt, f.passed_on) for f in always] == [(1, None), (2, None)]
    assert always[0].finished_at is not None and always[1].started_at is not None
    assert always[0].finished_at < always[1].started_at
    assert report.failed_tests() == [ALWAYS]
    assert report.summary.startswith("1 of 3 tests failed. 1 flaky: failed, then passed on a")
    markdown = render(report, OutputFormat.MARKDOWN)
    assert "1 flaky" in markdown.splitlines()[0]
    assert "flaky: attempt 1 failed, passed on attempt 2" in markdown
    assert "(intermittent)" in markdown
    assert report.counts_line().startswith("3 failure(s), 1 cause(s), 1 flaky test(s)")


def test_junit_and_json_report_keep_the_flaky_test_without_its_text(rerun: Path) -> None:
    """pytest's JUnit XML writes a childless testcase per failed attempt (pytest-rerunfailures
    16.6.1+); pytest-json-report keeps the last attempt and the outcome `rerun`."""
    junit = read_results([rerun / "ju.xml"])
    assert sorted((f.test_id, f.attempt, f.passed_on) for f in junit.failures) == [
        (FLAKY, 1, 2),
        (ALWAYS, 1, None),
        (ALWAYS, 2, None),
    ]
    assert all("pytest-rerunfailures ran the test again" in f.message for f in junit.failures[:2])
    json_report = read_results([rerun / "jr.json"])
    assert sorted((f.test_id, f.attempt, f.passed_on) for f in json_report.failures) == [
        (FLAKY, 1, 2),
        (ALWAYS, 1, None),
    ]
    # the report log of the same run gives the attempts their text: its copies are kept
    both = read_results([rerun / "rl.jsonl", rerun / "ju.xml"])
    assert len(both.failures) == 3
    assert all(f.time_exact for f in both.failures)


def test_surefire_flaky_and_rerun_elements_are_attempts(tmp_path: Path) -> None:
    """Maven Surefire's shape, from its schema (apache/maven-surefire,
    maven-surefire-plugin/src/site/resources/xsd/surefire-test-report.xsd) and its page
    "Rerun Failing Tests" (examples/rerun-failing-tests.html): a flaky test holds one
    `flakyFailure`/`flakyError` per failed run; one failing every run holds its `failure` and
    a `rerunFailure` per rerun, each with `stackTrace` and its own output."""
    xml = tmp_path / "TEST-chat.ChatIT.xml"
    xml.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="chat.ChatIT" time="3.2" tests="2" errors="0" skipped="0" failures="1"
    timestamp="2026-11-30T10:00:00">
  <testcase name="sendsReply" classname="chat.ChatIT" time="1.1">
    <flakyFailure message="received 1011 (internal error)" type="java.io.IOException">
      <stackTrace>java.io.IOException: received 1011 (internal error)
	at chat.ChatIT.sendsReply(ChatIT.java:42)</stackTrace>
      <system-out>connection_id=conn_a1b2c3d4e5f6</system-out>
    </flakyFailure>
    <flakyError message="Connection reset" type="java.net.SocketException">
      <stackTrace>java.net.SocketException: Connection reset</stackTrace>
    </flakyError>
  </testcase>
  <testcase name="formatsMessage" classname="chat.ChatIT" time="2.0">
    <failure message="expected: reply but was: message" type="org.opentest4j.AssertionFailedError">
org.opentest4j.AssertionFailedError: expected: reply but was: message</failure>
    <rerunFailure message="expected: reply but was: message"
        type="org.opentest4j.AssertionFailedError">
      <stackTrace>org.opentest4j.AssertionFailedError: expected</stackTrace>
    </rerunFailure>
  </testcase>
</testsuite>
"""
    )
    results = read_results([xml], tz=None)
    got = [(f.test_id.split("::")[-1], f.attempt, f.passed_on, f.outcome) for f in results.failures]
    assert sorted(got) == [
        ("formatsMessage", 1, None, "failed"),
        ("formatsMessage", 2, None, "failed"),
        ("sendsReply", 1, 3, "failed"),
        ("sendsReply", 2, 3, "error"),
    ]
    first = next(f for f in results.failures if f.attempt == 1 and f.passed_on)
    assert first.message == "java.io.IOException: received 1011 (internal error)"
    assert first.ids.connection_ids == ("conn_a1b2c3d4e5f6",)
    assert first.event.close_code == 1011


def test_ci_fails_on_flaky_only_when_asked(rerun: Path, tmp_path: Path) -> None:
    args = ["ci", str(rerun / "rl.jsonl"), "--logs", str(rerun / "logs.ndjson")]
    args += ["--artifacts", str(tmp_path / "out")]
    runner = CliRunner()
    plain = runner.invoke(cli, [*args, "--fail-on-unexplained"])
    assert plain.exit_code == 0, plain.output  # the flaky attempt is explained, the other is
    assert "::warning " in plain.output and "(flaky)" in plain.output  # the test's own
    asked = runner.invoke(cli, [*args, "--fail-on-unexplained", "--fail-on-flaky"])
    assert asked.exit_code == 1


def test_history_counts_flaky_occurrences_per_cause(
    rerun: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    earlier = analyze(Analysis(results=[rerun / "rl.jsonl"], logs=[str(rerun / "logs.ndjson")]))
    history = tmp_path_factory.mktemp("history")
    record(render(earlier, OutputFormat.JSON), earlier, history)
    later = tmp_path_factory.mktemp("later")
    (later / "test_e2e.py").write_text(SUITE.format(logs=str(later / "logs.ndjson")))
    run_pytest(later, "--reruns", "1", "--report-log", "rl.jsonl")
    now = analyze(Analysis(results=[later / "rl.jsonl"], logs=[str(later / "logs.ndjson")]))
    (cause,) = [c for c in now.causes if c.intermittent]
    assert classify(now, history)[cause.id].flaky == 2  # one attempt in each run
    (described,) = [c for c in with_history(now, history).causes if c.id == cause.id]
    assert described.history is not None
    assert "2 of its failures across runs passed on a rerun (flaky)" in described.history


HANG = """
import threading
import time

def wait_forever(connection_id):
    time.sleep(30)

def idle():
    wait_forever(connection_id="conn_dumpedthread1")

def wait_for_reply(conn_id):
    time.sleep(30)

def test_hangs():
    threading.Thread(target=idle, daemon=True).start()
    wait_for_reply(conn_id="conn_theteststack")
"""


@pytest.mark.parametrize("method", ["signal", "thread"])
def test_pytest_timeout_kill_is_a_client_timeout(tmp_path: Path, method: str) -> None:
    (tmp_path / "test_hang.py").write_text(HANG)
    console = run_pytest(
        tmp_path, "--timeout", "1", "--timeout-method", method, "--report-log", "rl.jsonl"
    )
    results = read_results([tmp_path / "rl.jsonl"])
    (failure,) = results.failures
    assert failure.test_id == "test_hang.py::test_hangs"
    assert failure.event.timeout
    if method == "signal":
        # the kill raises in the test's thread: its frames are the traceback's, the other
        # threads' stacks are dumped into its captured output
        assert failure.message == "Failed: Timeout (>1.0s) from pytest-timeout."
        assert failure.event.runner_timeout_s == 1.0
        assert failure.frames == ("test_hang.py:16", "test_hang.py:12")
        assert "+++ Timeout +++" in failure.details and "conn_dumpedthread1" in failure.details
        # the dump names another thread's argument: not an id this test used (near miss: read
        # with the dump, it would be taken)
        raw = extract_ids([observed_text(failure.details)])
        assert "conn_dumpedthread1" in raw.connection_ids
        assert failure.ids.connection_ids == ("conn_theteststack",)  # its own call's argument
        assert failure.time_exact
        assert (failure.finished_at - failure.started_at).total_seconds() >= 1.0
    else:
        # the thread method dumps to the terminal and ends pytest (os._exit): the report log
        # stops at the test's setup and holds no session end
        assert failure.message.startswith("Timeout: pytest was killed while this test ran")
        assert not failure.time_exact
        assert failure.ids.is_empty()
        assert any("was still running when the report log ends" in w for w in results.warnings)
        # its frames are in the dump on the console, in the main thread's stack only (the
        # helper thread's `wait_forever` is in the same file, and not the test's)
        assert "Stack of MainThread" in console
        assert own_frames(console, "test_hang.py") == (
            "test_hang.py:16 in test_hangs",
            "test_hang.py:12 in wait_for_reply",
        )


def test_near_miss_a_report_log_with_its_session_end_has_no_killed_test(tmp_path: Path) -> None:
    (tmp_path / "test_fine.py").write_text("def test_fine():\n    pass\n")
    run_pytest(tmp_path, "--report-log", "rl.jsonl")
    assert read_results([tmp_path / "rl.jsonl"]).failures == []


def test_two_shards_of_one_run_read_as_one(tmp_path: Path) -> None:
    """Shard 1 and shard 2 of a matrix run the same suite split by -k; the flaky test runs in
    both (a rerun job): two attempts, placed by each shard's own times."""
    (tmp_path / "test_e2e.py").write_text(SUITE.format(logs=str(tmp_path / "logs.ndjson")))
    run_pytest(tmp_path, "-k", "not ok", "--report-log", "shard-1.jsonl")
    run_pytest(tmp_path, "-k", "bootstraps or ok", "--report-log", "shard-2.jsonl")
    (tmp_path / "first-attempt-done").unlink()
    shards = [tmp_path / "shard-1.jsonl", tmp_path / "shard-2.jsonl"]
    report = analyze(Analysis(results=shards, logs=[str(tmp_path / "logs.ndjson")]))
    assert report.shards == tuple(str(p) for p in shards)
    by_attempt = {(f.test_id, f.attempt): f for f in report.failures}
    assert set(by_attempt) == {(FLAKY, 1), (ALWAYS, 1)}
    assert by_attempt[(FLAKY, 1)].passed_on == 2  # it passed in shard 2
    assert by_attempt[(FLAKY, 1)].shard == str(shards[0])
    assert by_attempt[(FLAKY, 1)].cause_id is not None
    shard_1_times = [json.loads(line) for line in shards[0].read_text().splitlines()]
    stops = [r["stop"] for r in shard_1_times if r.get("when")]
    failure = by_attempt[(FLAKY, 1)]
    assert failure.finished_at is not None
    assert failure.finished_at.timestamp() <= max(stops)
    assert report.tests_total == 3
    markdown = render(report, OutputFormat.MARKDOWN)
    assert f"Shards of this run (2, each placed by its own times): `{shards[0]}`" in markdown
    # near miss: one shard alone is no sharded run
    single = analyze(Analysis(results=shards[:1], logs=[str(tmp_path / "logs.ndjson")]))
    assert single.shards == () and single.failures[0].shard is None
    assert single.flaky_tests() == []


def test_each_attempt_keeps_only_its_own_output_and_ids(tmp_path: Path) -> None:
    """pytest keeps appending a rerun test's captured output, so the report of attempt 2 also
    holds attempt 1's: each failure must keep its own attempt's ids, not every attempt's."""
    (tmp_path / "test_ids.py").write_text(
        "import itertools\n"
        "_attempts = itertools.count()\n\n"
        "def test_reconnects():\n"
        "    n = next(_attempts)\n"
        "    print(f'connected: connection_id=conn_attempt{n:06d}')\n"
        "    assert n >= 2\n"
    )
    run_pytest(tmp_path, "--reruns", "2", "--report-log", "rl.jsonl")
    records = [json.loads(line) for line in (tmp_path / "rl.jsonl").read_text().splitlines()]
    last_call = [r for r in records if r.get("when") == "call"][-1]
    assert len(last_call["sections"]) == 3  # the premise: pytest's sections accumulate
    failures = read_results([tmp_path / "rl.jsonl"]).failures
    assert [(f.attempt, f.ids.connection_ids) for f in failures] == [
        (1, ("conn_attempt000000",)),
        (2, ("conn_attempt000001",)),
    ]
    assert "conn_attempt000000" not in failures[1].details
