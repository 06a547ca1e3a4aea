"""History across runs: the same cause in a later run is recurring; marked fixed, it is back."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from test_golden import _example_analysis

from fivewhys.history import classify, mark_fixed, record, run_time
from fivewhys.model import Report
from fivewhys.pipeline import OutputFormat, analyze, render


def _shifted(report: Report, days: int) -> Report:
    """The same run, `days` later: what a rerun next week looks like."""
    delta = timedelta(days=days)
    failures = tuple(
        f.model_copy(
            update={
                "started_at": f.started_at and f.started_at + delta,
                "finished_at": f.finished_at and f.finished_at + delta,
            }
        )
        for f in report.failures
    )
    return report.model_copy(update={"failures": failures})


def test_new_then_recurring_then_regression(tmp_path: Path) -> None:
    first = analyze(_example_analysis())
    assert {h.status for h in classify(first, tmp_path).values()} == {"new"}
    record(render(first, OutputFormat.JSON), first, tmp_path)

    later = _shifted(first, 7)
    history = classify(later, tmp_path)
    assert {h.status for h in history.values()} == {"recurring"}
    c1 = history["C1"]
    assert c1.first_seen == run_time(first)
    assert c1.first_revision == "chat-backend-00042-xaz"
    assert c1.runs_seen == 1

    first_run = run_time(first)
    assert first_run is not None
    fixed_at = first_run + timedelta(days=1)
    mark_fixed(tmp_path, c1.fingerprint, fixed_at, "handler now answers with an error frame")
    again = classify(later, tmp_path)
    assert again["C1"].status == "regression"
    assert again["C1"].fixed_at == fixed_at
    assert again["C2"].status == "recurring"


def _as_schema_1_4(report: Report) -> str:
    """The run as fivewhys wrote it before schema 1.5 (issue 14): each failure's lines whole as
    its `evidence`, each cause's evidence its best ten lines only."""
    data = json.loads(render(report, OutputFormat.JSON))
    data["schema_version"] = "1.4"
    for failure, model in zip(data["failures"], report.failures, strict=True):
        del failure["cites"], failure["candidates"]
        failure["evidence"] = [line.model_dump(mode="json") for line in report.lines_of(model)]
    for cause in data["causes"]:
        cause["evidence"] = cause["evidence"][:10]
    return json.dumps(data, indent=2)


def test_a_run_kept_before_schema_1_5_reads_as_the_same_causes(tmp_path: Path) -> None:
    first = analyze(_example_analysis())
    record(_as_schema_1_4(first), first, tmp_path / "old")
    record(render(first, OutputFormat.JSON), first, tmp_path / "new")
    later = _shifted(first, 7)
    old, new = classify(later, tmp_path / "old"), classify(later, tmp_path / "new")
    assert {h.status for h in old.values()} == {"recurring"}
    assert old == new
    assert old["C1"].first_revision == "chat-backend-00042-xaz"


def test_runs_after_the_current_one_do_not_count(tmp_path: Path) -> None:
    report = analyze(_example_analysis())
    future = _shifted(report, 30)
    record(render(future, OutputFormat.JSON), future, tmp_path)
    assert {h.status for h in classify(report, tmp_path).values()} == {"new"}


BAD_HISTORY_FILES = {
    "list.json": b"[]",
    "string.json": b'"a run"',
    "naive.json": b'{"failures": [{"started_at": "2025-09-07T15:00:00"}], "causes": []}',
    "unparsable.json": b'{"failures": [{"started_at": "yesterday"}], "causes": []}',
    "no-rule.json": b'{"failures": [{"started_at": "2000-01-01T00:00:00Z"}], "causes": [{}]}',
    "latin1.json": '{"failures": [], "note": "caf\u00e9"}'.encode("latin-1"),
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
}


def test_damaged_history_files_are_skipped_with_a_warning(tmp_path: Path) -> None:
    """Each kind of damage the hardening probe found is one warning; the good run still counts."""
    first = analyze(_example_analysis())
    record(render(first, OutputFormat.JSON), first, tmp_path)
    for name, data in BAD_HISTORY_FILES.items():
        (tmp_path / "runs" / name).write_bytes(data)
    (tmp_path / "runs" / "dir.json").mkdir()
    (tmp_path / "fixed.json").write_text('{"abc": {"fixed_at": "2025-09-07"}}', "utf-8")
    problems: list[str] = []
    history = classify(_shifted(first, 7), tmp_path, problems)
    assert {h.status for h in history.values()} == {"recurring"}
    skipped = sorted(line.split(": ", 1)[0].rsplit("/", 1)[-1] for line in problems)
    assert skipped == sorted([*BAD_HISTORY_FILES, "dir.json", "fixed.json"])
    assert all("\n" not in line for line in problems)
    assert any(
        "fixed.json: fixed causes not read: time '2025-09-07' has no UTC offset" in p
        for p in problems
    )


def test_fixed_json_that_is_a_list_is_a_warning(tmp_path: Path) -> None:
    first = analyze(_example_analysis())
    (tmp_path / "fixed.json").write_text("[]", "utf-8")
    problems: list[str] = []
    classify(first, tmp_path, problems)
    assert problems == [
        f"{tmp_path / 'fixed.json'}: fixed causes not read: the file is not a JSON object"
    ]
