"""History says when a cause began (issue 13 part 5): green runs are kept too, with the revisions
and commits that served them, and each cause names its last green run and its first failing one.

The runs are the bundled example's real analysis (examples/), its deploy audit entries shaped as
Cloud Run writes them (tests/audit_entries.py); a green run is that run as fivewhys reports a
run whose tests all passed (no failure, every test in `tests_passed`), a week earlier, served
by the revision before."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from audit_entries import activity, completion
from test_golden import _example_analysis
from test_history import _shifted

from fivewhys.history import record, regressions, run_time
from fivewhys.model import Deploy, Report, RevisionServed
from fivewhys.pipeline import OutputFormat, analyze, render

REPO = Path(__file__).resolve().parents[1]
FAILING = "chat-backend-00042-xaz"
GREEN = "chat-backend-00041-pqr"
GOOD = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
BAD = "5d6e7f8a9b0c1d2e3f405162738495a6b7c8d9e0"


def _this_run(tmp_path: Path, history: Path | None = None) -> Report:
    start = analyze(_example_analysis()).run_started_at
    assert start is not None
    audit = tmp_path / "audit.json"
    audit.write_text(
        json.dumps(
            [
                activity(start - timedelta(minutes=20), 42, GREEN, BAD),
                completion(start - timedelta(minutes=19), FAILING, 42, BAD),
            ]
        ),
        encoding="utf-8",
    )
    analysis = _example_analysis()
    return analyze(
        type(analysis)(results=analysis.results, logs=[*analysis.logs, str(audit)], history=history)
    )


def _green(report: Report, days: int, passed: tuple[str, ...] | None = None) -> Report:
    """The run `days` before `report`, all its tests passing, served by GREEN from GOOD."""
    start = report.run_started_at
    assert start is not None
    at = start - timedelta(days=days)
    served = RevisionServed(
        service="chat-backend",
        revision=GREEN,
        entries=40,
        first_seen=at,
        last_seen=at + timedelta(minutes=1),
        deploy=Deploy(service="chat-backend", revision=GREEN, commit=GOOD),
    )
    everything = tuple(sorted({*report.tests_passed, *(f.test_id for f in report.failures)}))
    return report.model_copy(
        update={
            "failures": (),
            "causes": (),
            "run_started_at": at,
            "tests_passed": everything if passed is None else passed,
            "revisions": report.revisions.model_copy(update={"served": (served,)}),
        }
    )


def test_a_green_run_is_kept_and_read_back(tmp_path: Path) -> None:
    now = _this_run(tmp_path)
    green = _green(now, 7)
    assert run_time(green) == green.run_started_at  # before: a run without failures had none
    kept = record(render(green, OutputFormat.JSON), green, tmp_path / "hist")
    assert kept is not None and kept.exists()


def test_regressed_between_the_last_green_revision_and_the_failing_one(tmp_path: Path) -> None:
    history = tmp_path / "hist"
    now = _this_run(tmp_path)
    for days in (14, 7):
        green = _green(now, days)
        record(render(green, OutputFormat.JSON), green, history)
    report = _this_run(tmp_path, history)
    assert report.causes
    for cause in report.causes:
        began = cause.regression
        assert began is not None
        assert began.green_revisions == (GREEN,) and began.green_commit == GOOD
        assert began.green_at == now.run_started_at - timedelta(days=7)  # type: ignore[operator]
        assert (began.failing_run, began.failing_revision, began.failing_commit) == (
            "this run",
            FAILING,
            BAD,
        )
        [why] = [w for w in cause.whys if w.text.startswith("Regressed between")]
        assert why.kind == "evidence" and why.client == f"history runs/{began.green_run}"
        assert why.text.startswith(f"Regressed between `{GREEN}` (commit `1a2b3c4`, green on run ")
        assert f"and `{FAILING}` (commit `5d6e7f8`)" in why.text
        assert "this run is the first that failed" in why.text
    assert "Regressed between" in render(report, OutputFormat.MARKDOWN)


def test_the_first_failing_run_is_the_earliest_after_the_green_one(tmp_path: Path) -> None:
    history = tmp_path / "hist"
    now = _this_run(tmp_path)
    green = _green(now, 7)
    record(render(green, OutputFormat.JSON), green, history)
    earlier_red = _shifted(now, -3)
    kept = record(render(earlier_red, OutputFormat.JSON), earlier_red, history)
    assert kept is not None
    found = regressions(now, history)
    assert {r.failing_run for r in found.values()} == {kept.name}
    assert {r.failing_revision for r in found.values()} == {FAILING}


def test_a_run_where_one_of_its_tests_did_not_pass_is_not_green(tmp_path: Path) -> None:
    """Near miss: the week-earlier run passed every test but the cause's own."""
    history = tmp_path / "hist"
    now = _this_run(tmp_path)
    cause = now.causes[0]
    every = {*now.tests_passed, *(f.test_id for f in now.failures)}
    others = tuple(sorted(t for t in every if t not in cause.failures))
    partial = _green(now, 7, passed=others)
    record(render(partial, OutputFormat.JSON), partial, history)
    found = regressions(now, history)
    assert cause.id not in found
    assert found  # the other causes' tests did pass there


def test_older_history_files_still_read(tmp_path: Path) -> None:
    """A schema 1.3 file: no `tests_passed` nor `run_started_at`, passes in `contacts`; one
    before 1.3 has neither, and tells nothing of passes (no regression claimed, no error)."""
    history = tmp_path / "hist"
    now = _this_run(tmp_path)
    red = _shifted(now, -7)
    data = json.loads(render(red, OutputFormat.JSON))
    tests = {t for c in now.causes for t in c.failures}
    old = {k: v for k, v in data.items() if k not in ("tests_passed", "run_started_at")}
    old["causes"] = []  # its causes were others
    old["contacts"] = [{"test_id": t, "attempt": 1, "passed": True} for t in sorted(tests)]
    (history / "runs").mkdir(parents=True)
    (history / "runs" / "old-1.3.json").write_text(json.dumps(old), encoding="utf-8")
    problems: list[str] = []
    assert set(regressions(now, history, problems)) == {c.id for c in now.causes}
    del old["contacts"]
    (history / "runs" / "old-1.3.json").write_text(json.dumps(old), encoding="utf-8")
    assert regressions(now, history, problems) == {} and problems == []
