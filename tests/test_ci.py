"""`fivewhys ci` and the workflows in docs/: the exact commands the docs give, run against the
fake Cloud Logging endpoint, leave md, json, html and the bundle; exit codes as documented."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from conftest import REPO
from fake_logging import FakeLogging, fake_logging, read_ndjson

from fivewhys.cli import cli
from fivewhys.resources import CACHE_DIR_ENV

__all__ = ["fake_logging"]  # the fixture, used by name

SINK = REPO / "examples" / "logs" / "sink.ndjson"
RESULTS = REPO / "examples" / "results" / "report-log.jsonl"
REAL_500 = REPO / "tests" / "data" / "results" / "real" / "junit_20250907T153851Z_http500.xml"
REAL_LOGS = REPO / "tests" / "data" / "logs" / "real" / "cloudrun-entries.ndjson"


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    for name in ("GOOGLE_CLOUD_PROJECT", "FIVEWHYS_LOGGING_ENDPOINT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def example(fake_logging: FakeLogging) -> FakeLogging:
    fake_logging.load(read_ndjson(SINK))
    return fake_logging


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _workflow_commands(path: Path) -> list[str]:
    """The `fivewhys ...` lines of a GitHub workflow (steps' run) or GitLab CI file (script)."""
    document = yaml.safe_load(path.read_text())
    lines: list[str] = []
    for job in (document.get("jobs") or document).values():
        if not isinstance(job, dict):
            continue
        lines += [step.get("run", "") for step in job.get("steps", [])]
        lines += job.get("script", [])
    return [line for line in lines if line.startswith("fivewhys ")]


@pytest.mark.parametrize("workflow", ["github-actions.yml", "gitlab-ci.yml"])
def test_the_documented_workflow_leaves_the_artifacts(
    workflow: str, example: FakeLogging, tmp_path: Path
) -> None:
    (command,) = _workflow_commands(REPO / "docs" / workflow)
    (tmp_path / "results").mkdir()
    shutil.copy(RESULTS, tmp_path / "results" / "report-log.jsonl")
    summary = tmp_path / "summary.md"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GOOGLE_CLOUD_PROJECT": "fivewhys-example",
        "FIVEWHYS_LOGGING_ENDPOINT": example.url,
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    done = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    artifacts = tmp_path / "rca"
    assert sorted(p.name for p in artifacts.iterdir()) == [
        "logs.parquet",
        "rca.html",
        "rca.json",
        "rca.md",
    ]
    report = json.loads((artifacts / "rca.json").read_text())
    assert len(report["causes"]) == 3
    assert summary.read_text().startswith("# Five whys: 4 failed tests, 3 causes, 1 client-side")
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::error ")]
    assert len(annotations) == 3
    assert annotations[0].startswith(
        "::error file=examples/e2e/test_agents.py,line=11,title=fivewhys C1%3A "
    )
    # the bundle re-analyses offline into the same report
    rerun = run(
        "analyze", "results/report-log.jsonl", "--logs", "rca/logs.parquet", "--format", "json"
    )
    without_history = [{**c, "history": None} for c in report["causes"]]
    assert json.loads(rerun.stdout)["causes"] == without_history
    assert (tmp_path / ".fivewhys-history" / "runs").is_dir()


def test_unreadable_logs_never_fail_the_job_unless_strict(example: FakeLogging) -> None:
    args = ["ci", str(RESULTS), "--artifacts", "rca", "--project", "fivewhys-example"]
    args += ["--service", "chat-backend", "--api-endpoint", example.url, "--no-cache"]
    example.faults = ["403"]
    lenient = run(*args)
    assert lenient.exit_code == 0
    report = json.loads(Path("rca/rca.json").read_text())
    assert report["logs_unread"].startswith("permission denied reading the logs")
    assert report["causes"] == []
    assert "fivewhys ci: the report says so: the logs could not be read" in lenient.stderr
    example.faults = ["403"]
    assert run(*args, "--strict").exit_code == 3


def test_fail_on_unexplained(tmp_path: Path) -> None:
    example_args = ["ci", str(RESULTS), "--logs", str(SINK), "--artifacts", "a"]
    # the example's only failure without a cause is the test's own: not "unexplained"
    assert run(*example_args, "--fail-on-unexplained").exit_code == 0
    real = ["ci", str(REAL_500), "--logs", str(REAL_LOGS), "--artifacts", "b"]
    assert run(*real).exit_code == 0
    assert run(*real, "--fail-on-unexplained").exit_code == 1


def test_history_says_new_then_recurring_then_regression() -> None:
    def ci_run(days: int, artifacts: str) -> dict[str, Any]:
        results, logs = Path(f"r{days}.jsonl"), Path(f"l{days}.ndjson")
        results.write_text(_shifted_lines(RESULTS.read_text(), days, _shift_record))
        logs.write_text(_shifted_lines(SINK.read_text(), days, _shift_entry))
        args = ["ci", str(results), "--logs", str(logs), "--history", "hist"]
        assert run(*args, "--artifacts", artifacts).exit_code == 0
        report: dict[str, Any] = json.loads(Path(artifacts, "rca.json").read_text())
        return report

    first = ci_run(0, "first")
    assert [c["history"].split(":")[0] for c in first["causes"]] == ["new"] * 3
    second = ci_run(1, "second")
    assert [c["history"].split(":")[0] for c in second["causes"]] == ["recurring"] * 3
    assert (
        "in revision chat-backend-00042-xaz, in 1 earlier run(s)" in second["causes"][0]["history"]
    )
    fingerprint = second["causes"][0]["history"].rsplit("fingerprint ", 1)[1].rstrip(")")
    marked = run("history", "mark-fixed", fingerprint, "--history", "hist", "--note", "fixed")
    assert (marked.exit_code, marked.stderr) == (0, f"marked {fingerprint} fixed in hist\n")
    third = ci_run(400, "third")
    statuses = [c["history"].split(":")[0] for c in third["causes"]]
    assert statuses == ["regression", "recurring", "recurring"]


def _shifted_lines(text: str, days: int, shift: Callable[[dict[str, Any], int], None]) -> str:
    """A JSON-lines file with every record's times moved `days` later."""
    lines = []
    for line in text.splitlines():
        record = json.loads(line)
        shift(record, days)
        lines.append(json.dumps(record))
    return "\n".join(lines) + "\n"


def _shift_record(record: dict[str, Any], days: int) -> None:
    for key in ("start", "stop"):
        if isinstance(record.get(key), int | float):
            record[key] += days * 86400


def _shift_entry(entry: dict[str, Any], days: int) -> None:
    for key in ("timestamp", "receiveTimestamp"):
        moment = datetime.fromisoformat(entry[key].replace("Z", "+00:00"))
        entry[key] = (moment + timedelta(days=days)).isoformat().replace("+00:00", "Z")
    entry["insertId"] = f"{entry['insertId']}-{days}"
