"""`--fivewhys-history` and `--fivewhys-repo`: the end-of-session analysis gets what `fivewhys
analyze --history/--repo` get, and a run given a history is kept in it, green runs too.

The inner suite (run by pytester, the real plugin) writes the server's entries itself, shaped
as Cloud Run writes them (tests/test_pytest_plugin.py's suite, the revision and the bug chosen
by the environment: a green run on one revision, then a red one on the next)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fivewhys import pipeline
from fivewhys.cli import cli

#: imported here, not first inside pytester's in-process run: pytester drops the modules a run
#: imported when it ends, and a second import of the rule loader breaks the first one's YAML
__all__ = ["pipeline"]

INNER_TEST = """
import json
import os
import time
from datetime import datetime, timezone

from websockets.exceptions import ConnectionClosedError
from websockets.frames import Close

LOGS = {logs!r}
RESOURCE = {{"type": "cloud_run_revision", "labels": {{"project_id": "p",
    "service_name": "chat-backend", "revision_name": os.environ["INNER_REVISION"]}}}}


def log(n, message, severity="ERROR", **fields):
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    entry = {{"insertId": f"entry-{{n}}-{{os.environ['INNER_REVISION']}}", "timestamp": now,
             "severity": severity, "resource": RESOURCE,
             "logName": "projects/p/logs/run.googleapis.com%2Fstdout",
             "jsonPayload": {{"message": message, **fields}}}}
    with open(LOGS, "a") as handle:
        handle.write(json.dumps(entry) + "\\n")


def test_passes():
    log(0, "GET /health 200", severity="INFO")


def test_chat_thread_bootstraps():
    print("connected: connection_id=conn_a1b2c3d4e5f6 user_id=usr_0001")
    if not os.environ.get("INNER_BROKEN"):
        log(3, "thread bootstrapped", severity="INFO", connection_id="conn_a1b2c3d4e5f6")
        return
    failed = "Factory SSOT validation failed: user context missing 'thread_id'"
    log(1, failed, connection_id="conn_a1b2c3d4e5f6")
    time.sleep(0.05)
    raise ConnectionClosedError(Close(1011, "Internal error"), Close(1011, "Internal error"), True)
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> Path:
    # every path under pytester's directory: pytest takes the common ancestor of the path
    # arguments (option values too) as the rootdir, where the `[tool.fivewhys]` keys are read
    logs = pytester.path / "logs.ndjson"
    pytester.makepyfile(test_e2e=INNER_TEST.format(logs=str(logs)))
    return logs


def _run(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    revision: str,
    *args: str,
    broken: bool,
) -> pytest.RunResult:
    monkeypatch.setenv("INNER_REVISION", revision)
    if broken:
        monkeypatch.setenv("INNER_BROKEN", "1")
    else:
        monkeypatch.delenv("INNER_BROKEN", raising=False)
    return pytester.runpytest("--fivewhys-analyze", *args)


def _repo_warnings(report: Path) -> list[str]:
    return [w for w in json.loads(report.read_text())["warnings"] if "--repo" in w]


def test_a_repo_that_is_not_one_warns_as_analyze_does(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, suite: Path
) -> None:
    nowhere = pytester.path / "not-a-checkout"
    nowhere.mkdir()
    target = pytester.path / "rca.json"
    args = ("--fivewhys-logs", str(suite), "--fivewhys-report", str(target))
    result = _run(pytester, monkeypatch, "r1", *args, "--fivewhys-repo", str(nowhere), broken=True)
    result.assert_outcomes(passed=1, failed=1)
    [warning] = _repo_warnings(target)
    assert warning.startswith(f"--repo {nowhere}: not read as a git repository")

    by_cli = pytester.path / "cli.json"
    sidecar = pytester.path / "fivewhys-tests.jsonl"
    done = CliRunner().invoke(
        cli,
        ["analyze", str(sidecar), "--logs", str(suite), "--repo", str(nowhere), "-o", str(by_cli)],
    )
    assert done.exit_code == 0, done.output
    assert _repo_warnings(by_cli) == [warning]


def test_the_option_overrides_the_key_and_the_key_still_counts(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, suite: Path
) -> None:
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\n[tool.fivewhys]\nrepo = "from-key"\n')
    target = pytester.path / "rca.json"
    args = ("--fivewhys-logs", str(suite), "--fivewhys-report", str(target))
    _run(pytester, monkeypatch, "r1", *args, broken=True)
    [keyed] = _repo_warnings(target)
    assert keyed.startswith(f"--repo {pytester.path / 'from-key'}: ")
    given = pytester.path / "given"
    _run(pytester, monkeypatch, "r1", *args, "--fivewhys-repo", str(given), broken=True)
    [warning] = _repo_warnings(target)
    assert warning.startswith(f"--repo {given}: ")


def test_no_repo_no_warning(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, suite: Path
) -> None:
    target = pytester.path / "rca.json"
    args = ("--fivewhys-logs", str(suite), "--fivewhys-report", str(target))
    _run(pytester, monkeypatch, "r1", *args, broken=True).assert_outcomes(passed=1, failed=1)
    assert _repo_warnings(target) == []


def test_a_green_run_is_kept_and_dates_the_regression(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, suite: Path
) -> None:
    history = pytester.path / "history"
    target = pytester.path / "rca.json"
    args = ("--fivewhys-logs", str(suite), "--fivewhys-report", str(target))
    green = _run(
        pytester,
        monkeypatch,
        "chat-backend-00001-abc",
        *args,
        "--fivewhys-history",
        str(history),
        broken=False,
    )
    green.assert_outcomes(passed=2)
    [kept] = sorted((history / "runs").iterdir())
    green.stdout.fnmatch_lines([f"fivewhys: run kept in the history: {kept}"])
    assert not target.exists()  # a green run has nothing to explain: no report
    record = json.loads(kept.read_text())
    assert record["failures"] == [] and set(record["tests_passed"]) == {
        "test_e2e.py::test_passes",
        "test_e2e.py::test_chat_thread_bootstraps",
    }
    red = _run(
        pytester,
        monkeypatch,
        "chat-backend-00002-def",
        *args,
        "--fivewhys-history",
        str(history),
        broken=True,
    )
    red.assert_outcomes(passed=1, failed=1)
    red.stdout.fnmatch_lines(["fivewhys: report written to *", "fivewhys: run kept in the *"])
    assert len(list((history / "runs").iterdir())) == 2
    [cause] = json.loads(target.read_text())["causes"]
    regression = cause["regression"]
    assert regression["green_revisions"] == ["chat-backend-00001-abc"]
    assert regression["failing_revision"] == "chat-backend-00002-def"


def test_the_history_key_reads_but_does_not_keep(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, suite: Path
) -> None:
    """Near miss: `[tool.fivewhys] history` alone does not keep a developer's runs."""
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\n[tool.fivewhys]\nhistory = "hist"\n')
    args = ("--fivewhys-logs", str(suite))
    green = _run(pytester, monkeypatch, "r1", *args, broken=False)
    green.assert_outcomes(passed=2)
    assert "fivewhys:" not in green.stdout.str()
    red = _run(pytester, monkeypatch, "r1", *args, broken=True)
    red.stdout.fnmatch_lines(["fivewhys: report written to *"])
    assert "run kept" not in red.stdout.str()
    assert not (pytester.path / "hist").exists()


def test_a_green_run_without_logs_is_kept_all_the_same(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, suite: Path
) -> None:
    """Which tests passed dates a later regression even when no log says which revision."""
    history = pytester.path / "history"
    green = _run(pytester, monkeypatch, "r1", "--fivewhys-history", str(history), broken=False)
    green.assert_outcomes(passed=2)
    [kept] = sorted((history / "runs").iterdir())
    green.stdout.fnmatch_lines([f"fivewhys: run kept in the history: {kept}"])
    assert len(json.loads(kept.read_text())["tests_passed"]) == 2
