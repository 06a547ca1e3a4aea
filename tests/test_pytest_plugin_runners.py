"""`pytest --fivewhys` under the runner plugins real suites use, each run for real: pytest-xdist
(`-n 2`) and pytest-rerunfailures (`--reruns 1`). Under xdist the sidecar must hold what a
serial run's does, test for test, written whole by the controller alone."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from fivewhys.results import read_results

# Each failing test logs the server's line for its own connection, as the example app's backend
# does: Cloud Logging's LogEntry shape
# (cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry), one entry per line as a
# Cloud Logging sink writes them; the failure is websockets' own close error, as in the example.
SUITE = """
import json
from datetime import datetime, timezone

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.frames import Close

LOGS = {logs!r}
RESOURCE = {{"type": "cloud_run_revision", "labels": {{"project_id": "p",
    "service_name": "chat-backend", "revision_name": "chat-backend-00001-abc"}}}}


def log(connection, message):
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    entry = {{"insertId": f"entry-{{connection}}", "timestamp": now, "severity": "ERROR",
             "logName": "projects/p/logs/run.googleapis.com%2Fstdout", "resource": RESOURCE,
             "jsonPayload": {{"message": message, "connection_id": connection}}}}
    with open(LOGS, "a") as handle:
        handle.write(json.dumps(entry) + "\\n")


@pytest.mark.parametrize("n", range({count}))
def test_thread(n):
    connection = f"conn_{{n:012x}}"
    print(f"connected: connection_id={{connection}} user_id=usr_{{n:04d}}")
    print("frame " * 400)  # long captured output: long sidecar lines, as real suites print
    if n % 2:
        log(connection, "Factory SSOT validation failed: user context missing 'thread_id'")
        close = Close(1011, "Internal error")
        raise ConnectionClosedError(close, close, True)


@pytest.fixture
def broken_fixture():
    raise RuntimeError("fixture could not reach the backend")


def test_setup_error(broken_fixture):
    pass


def test_skipped():
    pytest.skip("not on this backend")
"""
COUNT = 24  # 12 failing calls, 1 setup error: the old shared file broke on runs this size
FAILURES = COUNT // 2 + 1
WORKERS = {"gw0", "gw1"}


def _run(pytester: pytest.Pytester, name: str, *args: str) -> tuple[pytest.RunResult, Path]:
    sidecar = pytester.path / f"{name}.jsonl"
    result = pytester.runpytest("-p", "no:cacheprovider", "--fivewhys-sidecar", str(sidecar), *args)
    result.assert_outcomes(passed=COUNT // 2, failed=COUNT // 2, errors=1, skipped=1)
    return result, sidecar


def _records(sidecar: Path) -> list[dict[str, Any]]:
    """Every line of the sidecar, each of which must be one JSON object."""
    lines = sidecar.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    records = [json.loads(line) for line in lines[:-1]]
    kinds = Counter(record["$report_type"] for record in records)
    assert kinds["SessionStart"] == kinds["SessionFinish"] == 1, kinds
    assert records[0]["$report_type"] == "SessionStart"
    assert records[-1]["$report_type"] == "SessionFinish"
    return [record for record in records if record["$report_type"] == "TestReport"]


_TIMES = ("fivewhys.start", "fivewhys.setup.stop", "fivewhys.call.stop", "fivewhys.teardown.stop")


def _by_report(records: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """What must not depend on how the run was split: one entry per test and phase, with the
    ids the plugin recorded; the window's values differ from run to run, its names must not."""
    keyed: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        key = (record["nodeid"], record["when"])
        assert key not in keyed, f"{key} reported twice"
        properties = record["user_properties"]
        keyed[key] = {
            "outcome": record["outcome"],
            "location": record["location"],
            "longrepr": record["longrepr"],
            "sections": record["sections"],
            "ids": sorted((k, v) for k, v in properties if not k.startswith("fivewhys.")),
            "window": [k for k, _v in properties if k in _TIMES],
        }
    return keyed


def _assert_windows(records: list[dict[str, Any]]) -> None:
    for record in records:
        properties = dict(record["user_properties"])
        start = datetime.fromisoformat(properties["fivewhys.start"])
        stop = datetime.fromisoformat(properties[f"fivewhys.{record['when']}.stop"])
        assert start <= stop, record["nodeid"]
        assert record["start"] <= record["stop"], record["nodeid"]


@pytest.fixture
def logs(pytester: pytest.Pytester) -> Path:
    path = pytester.path / "logs.ndjson"
    pytester.makepyfile(test_e2e=SUITE.format(logs=str(path), count=COUNT))
    return path


def test_a_parallel_sidecar_holds_what_a_serial_one_does(
    pytester: pytest.Pytester, logs: Path
) -> None:
    _, serial_sidecar = _run(pytester, "serial", "--fivewhys")
    serial = _records(serial_sidecar)
    assert len(serial) == 3 * (COUNT + 2) - 1  # a failed setup has no call
    assert all("worker" not in record and "rerun" not in record for record in serial)
    assert not any(k == "fivewhys.worker" for r in serial for k, _v in r["user_properties"])
    _assert_windows(serial)
    expected = _by_report(serial)
    failing = expected[("test_e2e.py::test_thread[1]", "call")]
    assert failing["outcome"] == "failed"
    assert ["connection_id", "conn_000000000001"] in map(list, failing["ids"])
    assert "1011" in failing["longrepr"]

    # the old plugin's damage was racy (some runs came out whole): two parallel runs
    for attempt in ("parallel-1", "parallel-2"):
        _, sidecar = _run(pytester, attempt, "--fivewhys", "-n", "2")
        records = _records(sidecar)
        assert _by_report(records) == expected, attempt
        _assert_windows(records)
        workers = Counter(record.get("worker") for record in records)
        assert set(workers) == WORKERS, workers  # every record names its worker, both ran tests
        for record in records:
            # the worker that ran it put the same name in its properties, for JUnit
            assert ["fivewhys.worker", record["worker"]] in record["user_properties"]
        # one test's phases all ran in one worker
        by_test: dict[str, set[str]] = {}
        for record in records:
            by_test.setdefault(record["nodeid"], set()).add(record["worker"])
        assert all(len(ran_in) == 1 for ran_in in by_test.values())

    # what the readers make of the two agree too: the same failures, each in its exact window
    def failures(path: Path) -> list[tuple[str, str, bool, tuple[str, ...]]]:
        found = read_results([path])
        assert not found.warnings
        return sorted(
            (f.test_id, f.phase, f.time_exact, f.ids.connection_ids) for f in found.failures
        )

    assert failures(sidecar) == failures(serial_sidecar)
    assert len(failures(sidecar)) == FAILURES


# A worker's terminal summary runs (xdist does not drop it) before the controller's: a report
# that exists when a worker's summary ends was written by that worker.
WORKER_PROBE = """
from pathlib import Path

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_terminal_summary(config):
    yield
    target = Path(config.getoption("fivewhys_report"))
    if hasattr(config, "workerinput") and target.exists():
        (target.parent / "written-by-a-worker").touch()
"""


def test_the_analysis_runs_once_in_the_controller(pytester: pytest.Pytester, logs: Path) -> None:
    pytester.makeconftest(WORKER_PROBE)
    serial_report = pytester.path / "serial.json"
    parallel_report = pytester.path / "parallel.json"
    junit = pytester.path / "junit.xml"
    for name, report, extra in (
        ("serial", serial_report, ()),
        ("parallel", parallel_report, ("-n", "2", "--junitxml", str(junit))),
    ):
        result, _ = _run(
            pytester,
            name,
            "--fivewhys-analyze",
            "--fivewhys-logs",
            str(logs),
            "--fivewhys-report",
            str(report),
            *extra,
        )
        written = [line for line in result.outlines if line.startswith("fivewhys: ")]
        # 12 failures joined by their connections to one cause; the fixture that could not
        # reach the backend has no server line: a client-side failure
        assert written == [
            f"fivewhys: report written to {report}: {FAILURES} failure(s), 1 cause(s); "
            "1 client-side"
        ], result.outlines
    assert not (pytester.path / "written-by-a-worker").exists()
    serial, parallel = (json.loads(path.read_text()) for path in (serial_report, parallel_report))
    assert len(parallel["failures"]) == FAILURES
    assert [c["rule_id"] for c in parallel["causes"]] == ["ws-factory-validation-1011"]

    def explained(report: dict[str, Any]) -> list[tuple[str, Any]]:
        return sorted((f["test_id"], f["cause_id"]) for f in report["failures"])

    assert explained(parallel) == explained(serial)
    # the worker travels to JUnit as a property of the test it ran
    found = read_results([junit])
    assert {f.properties["fivewhys.worker"] for f in found.failures} == WORKERS


# A test that fails on its first attempt and passes on its rerun (the attempts counted in a
# file, as a flaky backend would), and one that fails both.
RERUN_SUITE = """
from pathlib import Path

ATTEMPTS = Path({attempts!r})


def test_flaky():
    ATTEMPTS.mkdir(exist_ok=True)
    attempt = len(list(ATTEMPTS.iterdir()))
    (ATTEMPTS / str(attempt)).touch()
    print(f"connected: connection_id=conn_flaky{{attempt:07d}}")
    if attempt == 0:
        raise ConnectionResetError("connection reset by peer")


def test_always_fails():
    print("connected: connection_id=conn_broken00000")
    raise AssertionError("expected 200, got 503")


def test_passes():
    pass
"""


@pytest.mark.parametrize("parallel", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_rerun_attempt_keeps_its_own_window_and_ids(
    pytester: pytest.Pytester, parallel: tuple[str, ...]
) -> None:
    attempts = pytester.path / "attempts"
    pytester.makepyfile(test_rerun=RERUN_SUITE.format(attempts=str(attempts)))
    sidecar = pytester.path / "sidecar.jsonl"
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--reruns", "1", "--fivewhys", "--fivewhys-sidecar",
        str(sidecar), *parallel,
    )  # fmt: skip
    assert result.parseoutcomes() == {"passed": 2, "failed": 1, "rerun": 2}
    records = _records(sidecar)
    _assert_windows(records)
    calls = {(r["nodeid"].split("::")[1], r["rerun"]): r for r in records if r["when"] == "call"}
    assert {name: r["outcome"] for name, r in calls.items()} == {
        ("test_flaky", 0): "rerun",
        ("test_flaky", 1): "passed",
        ("test_always_fails", 0): "rerun",
        ("test_always_fails", 1): "failed",
        ("test_passes", 0): "passed",
    }
    assert all(isinstance(record["rerun"], int) for record in records)
    if parallel:
        assert {record["worker"] for record in records} <= WORKERS
    else:
        assert all("worker" not in record for record in records)

    def window(record: dict[str, Any]) -> tuple[datetime, datetime]:
        properties = dict(record["user_properties"])
        return (
            datetime.fromisoformat(properties["fivewhys.start"]),
            datetime.fromisoformat(properties["fivewhys.call.stop"]),
        )

    def connections(record: dict[str, Any]) -> list[str]:
        return [v for k, v in record["user_properties"] if k == "connection_id"]

    first, second = calls[("test_flaky", 0)], calls[("test_flaky", 1)]
    assert "connection reset by peer" in first["longrepr"]
    # each attempt is its own window, the rerun's after the failed one's
    assert window(first)[1] < window(second)[0]
    assert [k for k, _v in second["user_properties"]].count("fivewhys.start") == 1
    # and its own ids: pytest keeps the first attempt's output in the rerun's sections, its id
    # is not the rerun's
    assert connections(first) == ["conn_flaky0000000"]
    assert connections(second) == ["conn_flaky0000001"]
    assert len(second["sections"]) == 2
    final = calls[("test_always_fails", 1)]
    assert connections(final) == ["conn_broken00000"]
    assert window(calls[("test_always_fails", 0)])[1] < window(final)[0]


def test_a_crashed_worker_is_named_in_the_record_the_controller_makes(
    pytester: pytest.Pytester,
) -> None:
    # xdist's controller reports a worker that died mid-test itself (dsession.handle_crashitem):
    # no worker_id travels with it, the worker is the one attached as report.node
    pytester.makepyfile(test_crash="import os\n\ndef test_crash():\n    os._exit(1)\n")
    sidecar = pytester.path / "sidecar.jsonl"
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--fivewhys", "--fivewhys-sidecar", str(sidecar), "-n", "2"
    )
    result.assert_outcomes(failed=1)
    records = _records(sidecar)
    (crash,) = (record for record in records if record["outcome"] == "failed")
    assert crash["worker"] in WORKERS
    assert crash["longrepr"] == f"worker '{crash['worker']}' crashed while running " + repr(
        "test_crash.py::test_crash"
    )
    # the setup it finished before dying was forwarded from the same worker
    (setup,) = (record for record in records if record["when"] == "setup")
    assert setup["worker"] == crash["worker"]
    # and the reader keeps it: a failure of that test, placed at the setup it reported
    (failure,) = read_results([sidecar]).failures
    assert failure.test_id == "test_crash.py::test_crash"
    assert failure.message.startswith(f"worker '{crash['worker']}' crashed while running")
    assert failure.placed and not failure.time_exact
    assert failure.started_at.timestamp() == pytest.approx(setup["start"])
