"""Red runs never look green, and no bucket claims more than the logs show: real pytest runs
(pytester) with import errors, no test at all, an old pytest's JUnit, a test's own TypeError,
then the client-side bucket against logs that do and do not cover the failures."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from fivewhys.cli import cli
from fivewhys.model import Failure, Report
from fivewhys.pipeline import Analysis, analyze
from fivewhys.results import read_results
from fivewhys.rules.matcher import network_event

OWN_FAILURES = """
import asyncio

import websockets


def test_reply_has_thread():
    print("connected: connection_id=conn_a1b2c3d4e5f6")
    reply = {"type": "agent_started"}
    assert "thread_id" in reply


def test_connect_with_a_wrong_argument():
    async def go():
        # websockets 14+ passes unknown keywords on to loop.create_connection()
        async with websockets.connect("ws://127.0.0.1:9/ws", timeout=5):
            pass

    asyncio.run(go())
"""
CONNECTION = "conn_a1b2c3d4e5f6"
RESOURCE = {
    "type": "cloud_run_revision",
    "labels": {"project_id": "p", "service_name": "chat", "revision_name": "chat-00001-abc"},
}


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def entry(n: int, at: datetime, severity: str, message: str, **fields: Any) -> dict[str, Any]:
    """A structured stdout line as Cloud Run stores it (jsonPayload, severity lifted)."""
    return {
        "insertId": f"e-{n}",
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "severity": severity,
        "logName": "projects/p/logs/run.googleapis.com%2Fstdout",
        "resource": RESOURCE,
        "jsonPayload": {"message": message, **fields},
    }


def write_logs(path: Path, entries: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return str(path)


@pytest.fixture
def own_failures(pytester: pytest.Pytester) -> Path:
    pytester.makepyfile(test_chat=OWN_FAILURES)
    log = pytester.path / "report-log.jsonl"
    pytester.runpytest("--report-log", str(log)).assert_outcomes(failed=2)
    return log


def by_name(failures: list[Failure], name: str) -> Failure:
    return next(f for f in failures if f.test_id.endswith(name))


def buckets(report: Report) -> dict[str, str]:
    return {f.test_id.rsplit("::", 1)[1]: f.bucket for f in report.failures}


# --- the test's own call ---------------------------------------------------------------------


def test_a_typeerror_naming_timeout_is_the_tests_own_not_a_network_failure(
    own_failures: Path,
) -> None:
    failure = by_name(read_results([own_failures]).failures, "test_connect_with_a_wrong_argument")
    assert failure.message.startswith("TypeError: ")
    assert "unexpected keyword argument 'timeout'" in failure.message
    assert (failure.event.exception_type, failure.event.timeout) == ("TypeError", False)
    assert not network_event(failure)


# --- client-side only when the logs could have said otherwise --------------------------------


def test_no_log_covering_the_window_is_unexplained_never_client_side(
    own_failures: Path, tmp_path: Path
) -> None:
    failures = read_results([own_failures]).failures
    long_before = failures[0].started_at - timedelta(hours=1)
    logs = write_logs(tmp_path / "logs.ndjson", [entry(1, long_before, "INFO", "started")])
    for given in ([logs], []):
        report = analyze(Analysis(results=[own_failures], logs=given))
        assert set(buckets(report).values()) == {"unexplained"}
        for failure in report.failures:
            assert failure.note.startswith("No log entry covers the window ")
            assert failure.note.endswith(
                "Not filed client-side: without logs of its window nothing shows the server had "
                "no part."
            )


def test_covered_quiet_logs_make_both_own_failures_client_side(
    own_failures: Path, tmp_path: Path
) -> None:
    failures = read_results([own_failures]).failures
    at = failures[0].finished_at
    logs = write_logs(
        tmp_path / "logs.ndjson",
        [
            entry(1, at, "INFO", "websocket accepted", connection_id=CONNECTION),
            entry(2, at, "WARNING", "slow query on another request"),  # no id: not its own
        ],
    )
    report = analyze(Analysis(results=[own_failures], logs=[logs]))
    assert buckets(report) == {
        "test_reply_has_thread": "client-side",
        "test_connect_with_a_wrong_argument": "client-side",
    }


@pytest.mark.parametrize(
    ("severity", "bucket"), [("WARNING", "unexplained"), ("ERROR", "server-error")]
)
def test_a_line_of_its_own_at_warning_or_above_is_never_client_side(
    own_failures: Path, tmp_path: Path, severity: str, bucket: str
) -> None:
    failures = read_results([own_failures]).failures
    at = by_name(failures, "test_reply_has_thread").finished_at
    logs = write_logs(
        tmp_path / "logs.ndjson",
        [entry(1, at, severity, "thread lookup degraded", connection_id=CONNECTION)],
    )
    report = analyze(Analysis(results=[own_failures], logs=[logs]))
    assert buckets(report)["test_reply_has_thread"] == bucket
    reply = next(f for f in report.failures if f.test_id.endswith("test_reply_has_thread"))
    if severity == "WARNING":
        assert reply.note == (
            "Not client-side: 1 line(s) of its own (joined on connection_id) at WARNING or "
            "above; read them below."
        )


# --- failures of the run itself ----------------------------------------------------------------


@pytest.fixture
def import_error_run(pytester: pytest.Pytester) -> dict[str, Path]:
    pytester.makepyfile(test_settings="import app_settings_missing\n\n\ndef test_a():\n    pass\n")
    files = {
        "junit": pytester.path / "junit.xml",
        "reportlog": pytester.path / "report-log.jsonl",
        "jsonreport": pytester.path / "report.json",
    }
    result = pytester.runpytest(
        "--junitxml",
        str(files["junit"]),
        "--report-log",
        str(files["reportlog"]),
        "--json-report",
        "--json-report-file",
        str(files["jsonreport"]),
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    return files


@pytest.mark.parametrize("kind", ["junit", "jsonreport"])
def test_an_import_error_run_is_reported_as_such(
    import_error_run: dict[str, Path], kind: str
) -> None:
    report = analyze(Analysis(results=[import_error_run[kind]]))
    assert report.summary.startswith(
        "No test ran: 1 error(s) of the run itself (collection, import or internal errors)."
    )
    [failure] = report.failures
    assert (failure.test_id, failure.outcome, failure.message) == (
        "test_settings.py",
        "error",
        "ModuleNotFoundError: No module named 'app_settings_missing'",
    )
    assert failure.started_at is not None


def test_a_report_log_of_import_errors_only_is_placed_by_started_at(
    import_error_run: dict[str, Path],
) -> None:
    path = import_error_run["reportlog"]
    unplaced = analyze(Analysis(results=[path]))
    assert [f.started_at for f in unplaced.failures] == [None]
    assert unplaced.warnings[0] == (
        f"{path}: no test ran and the report log holds no time: the run's errors are listed "
        "unplaced, with no log joined; pass --started-at with the run's start"
    )
    start = datetime(2025, 9, 7, 15, 22, 9, tzinfo=UTC)
    placed = analyze(Analysis(results=[path], started_at=start))
    assert [f.started_at for f in placed.failures] == [start]
    # the three files of the run are one run: the error is reported once
    together = analyze(Analysis(results=list(import_error_run.values())))
    assert len(together.failures) == 1 and together.failures[0].started_at is not None


def test_a_run_in_which_no_test_ran_says_so_first(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(helpers="def not_a_test():\n    pass\n")
    junit = pytester.path / "junit.xml"
    assert pytester.runpytest("--junitxml", str(junit)).ret == pytest.ExitCode.NO_TESTS_COLLECTED
    report = analyze(Analysis(results=[junit]))
    assert report.summary.startswith("No test ran: the results hold none.")


def test_an_internal_error_is_an_error_of_the_run(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "def pytest_collection_modifyitems(items):\n    raise RuntimeError('plugin broke')\n"
    )
    pytester.makepyfile(test_x="def test_a():\n    pass\n")
    junit = pytester.path / "junit.xml"
    assert pytester.runpytest("--junitxml", str(junit)).ret == pytest.ExitCode.INTERNAL_ERROR
    [failure] = read_results([junit]).failures
    assert (failure.test_id, failure.phase, failure.outcome) == (
        "pytest::internal",
        "session",
        "error",
    )
    assert "RuntimeError: plugin broke" in failure.message + failure.details


# --- JUnit of pytest before 5.1 (no suite timestamp) -------------------------------------------


def as_pytest_50(junit: Path) -> Path:
    """The file as pytest 5.0 wrote it: a bare <testsuite> root, no timestamp, no hostname
    (pytest-dev/pytest#5471 and #5791 show that format; 5.1 added both attributes)."""
    text = junit.read_text()
    text = re.sub(r' (timestamp|hostname)="[^"]*"', "", text)
    text = re.sub(r"<testsuites[^>]*>|</testsuites>", "", text)
    old = junit.with_name("junit-pytest50.xml")
    old.write_text(text)
    return old


@pytest.fixture
def printed_time_run(pytester: pytest.Pytester) -> Path:
    pytester.makepyfile(
        test_old=(
            "from datetime import datetime, timezone\n\n\n"
            "def test_reply():\n"
            "    print(datetime.now(timezone.utc).isoformat(), 'sent hello')\n"
            "    assert False, 'no reply'\n"
        )
    )
    junit = pytester.path / "junit.xml"
    pytester.runpytest("--junitxml", str(junit), "-o", "junit_logging=all")
    return junit


def test_an_old_junit_is_placed_by_the_newest_time_it_writes(printed_time_run: Path) -> None:
    old = as_pytest_50(printed_time_run)
    printed = re.search(r"(\d{4}-\d\d-\d\dT[\d:.]+\+00:00) sent hello", old.read_text())
    assert printed and "timestamp=" not in old.read_text()
    results = read_results([old])
    [failure] = results.failures
    newest = datetime.fromisoformat(printed.group(1))
    assert failure.placed and failure.finished_at == newest
    assert results.notes[0] == (
        f"{old}: testsuite 'pytest' has no timestamp (pytest before 5.1 wrote none): the run is "
        f"placed to end at {newest.isoformat().replace('+00:00', 'Z')}, the newest time written "
        "in the file; pass --started-at to place it exactly"
    )


def test_an_old_junit_without_any_time_is_listed_unplaced_or_placed_by_started_at(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_old="def test_reply():\n    assert False, 'no reply'\n")
    junit = pytester.path / "junit.xml"
    pytester.runpytest("--junitxml", str(junit))
    old = as_pytest_50(junit)
    report = analyze(Analysis(results=[old]))
    [failure] = report.failures
    assert (failure.started_at, failure.bucket, failure.covered) == (None, "unexplained", False)
    assert failure.note.startswith("Not placed in time: ")
    assert "(1 not placed in time: pass --started-at)" in report.summary
    result = run("analyze", str(old), "--started-at", "2025-09-07T15:22:09Z", "--format", "json")
    assert result.exit_code == 0
    placed = json.loads(result.stdout)["failures"][0]
    assert placed["started_at"].startswith("2025-09-07T15:22:09")


# --- the command line: exact one-line messages -------------------------------------------------


def test_cli_skips_an_unreadable_log_file_and_names_it(own_failures: Path, tmp_path: Path) -> None:
    at = read_results([own_failures]).failures[0].finished_at
    good = write_logs(tmp_path / "good.ndjson", [entry(1, at, "INFO", "accepted")])
    bad = tmp_path / "wrapper.json"
    bad.write_text(json.dumps({"status": "ok"}))
    result = run(
        "analyze", str(own_failures), "--logs", good, "--logs", str(bad), "--format", "json"
    )
    assert result.exit_code == 0
    assert result.stderr == (
        f"warning: {bad}: not read (no entry is a Cloud Logging LogEntry (expected timestamp plus "
        "textPayload/jsonPayload/protoPayload/httpRequest): looks like an object with keys "
        "status); the analysis went on without it\n"
    )
    report = json.loads(result.stdout)
    assert report["warnings"][0].startswith(f"{bad}: no entry is a Cloud Logging LogEntry")
    assert f"{good}: 1 entries read, 0 skipped (NDJSON (one LogEntry per line))." in report["notes"]
    assert [(f["path"], f["read"], f["unread"] is None) for f in report["log_files"]] == [
        (good, 1, True),
        (str(bad), 0, False),
    ]
    strict = run("analyze", str(own_failures), "--logs", good, "--logs", str(bad), "--strict")
    assert strict.exit_code == 2
    assert strict.stderr == (
        f"error: {bad}: no entry is a Cloud Logging LogEntry (expected timestamp plus "
        "textPayload/jsonPayload/protoPayload/httpRequest): looks like an object with keys status\n"
    )


def test_cli_a_log_file_of_other_records_alone_is_an_input_error(
    own_failures: Path, tmp_path: Path
) -> None:
    records = tmp_path / "records.json"
    records.write_text(json.dumps([{"id": n, "value": n * 2} for n in range(120)]))
    result = run("analyze", str(own_failures), "--logs", str(records))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {records}: no entry is a Cloud Logging LogEntry (expected timestamp plus "
        "textPayload/jsonPayload/protoPayload/httpRequest): looks like objects with keys id, "
        "value\n"
    )


def test_cli_results_with_trailing_garbage_name_line_and_column(
    own_failures: Path, tmp_path: Path, pytester: pytest.Pytester
) -> None:
    report = pytester.path / "report.json"
    pytester.runpytest("--json-report", "--json-report-file", str(report))
    broken = tmp_path / "report.json"
    broken.write_text(json.dumps(json.loads(report.read_text()), indent=2) + "\n=== done ===\n")
    line = broken.read_text().count("\n")
    result = run("analyze", str(broken))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {broken}:{line}:1: trailing data after the JSON document ends: '=== done ==='\n"
    )


def test_cli_started_at_needs_an_offset(own_failures: Path) -> None:
    result = run("analyze", str(own_failures), "--started-at", "2025-09-07T15:22:09")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--started-at': '2025-09-07T15:22:09' has no UTC offset: "
        "add Z or one like +02:00"
    )


def test_ci_strict_exits_3_when_a_log_file_was_not_read(own_failures: Path, tmp_path: Path) -> None:
    at = read_results([own_failures]).failures[0].finished_at
    good = write_logs(tmp_path / "good.ndjson", [entry(1, at, "INFO", "accepted")])
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2] trailing")
    args = ["ci", str(own_failures), "--artifacts", str(tmp_path / "rca"), "--logs", good]
    assert run(*args, "--logs", str(bad)).exit_code == 0
    strict = run(*args, "--logs", str(bad), "--strict")
    assert strict.exit_code == 3
    assert f"fivewhys ci: the report says so: 1 log file(s) could not be read: {bad}\n" in (
        strict.stderr
    )
