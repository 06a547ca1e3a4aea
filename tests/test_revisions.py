"""Which revision served the run and each cause's evidence, its deploy, and the expectations.

The bundled example (examples/: a real run against the example app, its real-shaped Cloud Run
entries, all of revision chat-backend-00042-xaz) with deploy audit entries added (shapes:
tests/audit_entries.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from audit_entries import activity, completion

from fivewhys.model import Report
from fivewhys.pipeline import Analysis, OutputFormat, analyze, render

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "examples" / "results" / "report-log.jsonl"
LOGS = REPO / "examples" / "logs" / "gcloud-read.json"
REVISION = "chat-backend-00042-xaz"
COMMIT = "5d6e7f8a9b0c1d2e3f405162738495a6b7c8d9e0"
RUN_START = datetime(2026, 11, 21, 23, 36, 7, tzinfo=UTC)


def _write(tmp_path: Path, name: str, entries: list[dict[str, Any]]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(entries, indent=2), encoding="utf-8")
    return str(path)


def _deployed(tmp_path: Path, at: datetime, **kw: Any) -> Report:
    audit = _write(
        tmp_path,
        "audit.json",
        [
            activity(at, 42, "chat-backend-00041-pqr", COMMIT),
            completion(at + timedelta(seconds=35), REVISION, 42, COMMIT),
        ],
    )
    return analyze(Analysis(results=[RESULTS], logs=[str(LOGS), audit], **kw))


def test_each_cause_names_its_revision_and_deploy(tmp_path: Path) -> None:
    report = _deployed(tmp_path, RUN_START - timedelta(minutes=20))
    [deploy] = report.revisions.deploys
    assert deploy.revision == REVISION and deploy.previous == "chat-backend-00041-pqr"
    [served] = report.revisions.served
    assert served.revision == REVISION and served.deploy == deploy
    assert report.headline == ()  # one revision, deployed 20 minutes before: nothing to say
    for cause in report.causes:
        assert cause.revisions == (REVISION,)
        [why] = [w for w in cause.whys if w.text.startswith("Its evidence was written by")]
        assert why.kind == "evidence"
        assert set(deploy.insert_ids) <= set(why.evidence)
        assert "from commit 5d6e7f8a9b0c" in why.text
        assert "before the first failure" in why.text
    page = render(report, OutputFormat.MARKDOWN)
    assert "## Revisions" in page and "github-deployer" in page


def test_no_audit_entries_the_chain_says_so_and_stops() -> None:
    report = analyze(Analysis(results=[RESULTS], logs=[str(LOGS)]))
    assert report.revisions.deploys == ()
    for cause in report.causes:
        last = cause.whys[-1]
        assert last.kind == "question" and "No Cloud Run audit entry was read" in last.text
        assert not any(w.text.startswith("Its evidence was written by") for w in cause.whys)


def test_an_old_revision_is_said_first(tmp_path: Path) -> None:
    report = _deployed(tmp_path, RUN_START - timedelta(days=3))
    [line] = report.headline
    assert line.startswith(f"The run was served by {REVISION} only, deployed 3.0 days before")
    assert render(report, OutputFormat.MARKDOWN).split("\n> **Summary.**")[0].count(REVISION)


def test_expected_revision_and_commit_mismatches_are_findings(tmp_path: Path) -> None:
    report = _deployed(
        tmp_path,
        RUN_START - timedelta(minutes=20),
        expect_revision="chat-backend-00043-new",
        expect_commit="1a2b3c4d5e6f",
    )
    assert (
        f"Expected revision chat-backend-00043-new, but {REVISION} served the run"
        in report.headline[0]
    )
    assert any("Expected commit 1a2b3c4d5e6f, but" in line for line in report.headline)
    same = _deployed(tmp_path, RUN_START - timedelta(minutes=20), expect_commit=COMMIT[:7])
    assert same.headline == ()


def test_a_rollout_during_the_run(tmp_path: Path) -> None:
    """A second revision writes while the run runs, deployed in the middle of it."""
    entries = json.loads(LOGS.read_text(encoding="utf-8"))
    during = sorted(
        (e for e in entries if e.get("resource", {}).get("labels", {}).get("revision_name")),
        key=lambda e: str(e["timestamp"]),
    )
    late = during[10:15]
    newer = []
    for number, entry in enumerate(late):
        copy = json.loads(json.dumps(entry))
        copy["insertId"] = f"rollout{number:04d}"
        copy["resource"]["labels"]["revision_name"] = "chat-backend-00043-new"
        newer.append(copy)
    logs = _write(tmp_path, "more.json", newer)
    audit = _write(
        tmp_path,
        "audit.json",
        [
            activity(RUN_START + timedelta(seconds=1), 43, REVISION, COMMIT),
            completion(RUN_START + timedelta(seconds=2), "chat-backend-00043-new", 43, COMMIT),
        ],
    )
    report = analyze(Analysis(results=[RESULTS], logs=[str(LOGS), logs, audit]))
    assert {s.revision for s in report.revisions.served} == {REVISION, "chat-backend-00043-new"}
    assert report.headline[0].startswith("The run was served by 2 revisions at once")
    assert any("chat-backend-00043-new was deployed during the run" in h for h in report.headline)


def test_the_cli_expects_the_ci_commit(tmp_path: Path, monkeypatch: Any) -> None:
    from click.testing import CliRunner

    from fivewhys.cli import cli

    audit = _write(
        tmp_path,
        "audit.json",
        [completion(RUN_START - timedelta(minutes=5), REVISION, 42, COMMIT)],
    )
    out = tmp_path / "rca.json"
    args = ["analyze", str(RESULTS), "--logs", str(LOGS), "--logs", audit, "-o", str(out)]
    monkeypatch.setenv("GITHUB_SHA", "1a2b3c4d5e6f7a8b")
    done = CliRunner().invoke(cli, [*args, "--expect-commit-from-env"])
    assert done.exit_code == 0, done.output
    headline = json.loads(out.read_text())["headline"]
    assert headline == [
        f"Expected commit 1a2b3c4d5e6f, but {REVISION} was deployed from commit 5d6e7f8a9b0c "
        "(at 2026-11-21 23:31:07.000Z from commit 5d6e7f8a9b0c)."
    ]
    monkeypatch.delenv("GITHUB_SHA")
    monkeypatch.delenv("CI_COMMIT_SHA", raising=False)
    refused = CliRunner().invoke(cli, [*args, "--expect-commit-from-env"])
    assert refused.exit_code == 2
    assert "--expect-commit-from-env: none of GITHUB_SHA, CI_COMMIT_SHA is set" in refused.output
