"""The bundled example, end to end: true evidence first, no invented cause, golden reports.

Golden files are reviewed like code. After a deliberate change in rules, templates or the
analysis: `make update-golden`, then read the diff before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import REPO

from fivewhys.model import Report
from fivewhys.pipeline import Analysis, OutputFormat, analyze, render

EXAMPLES = REPO / "examples"
GOLDEN = Path(__file__).parent / "golden"
RESULTS = EXAMPLES / "results" / "report-log.jsonl"
LOGS = EXAMPLES / "logs" / "gcloud-read.json"


def _example_analysis(results: Path = RESULTS, logs: Path = LOGS) -> Analysis:
    # relative paths, as a user in the repo would type them: they appear in the report
    return Analysis(results=[results.relative_to(REPO)], logs=[str(logs.relative_to(REPO))])


def _attribution(report: Report) -> set[tuple[str, str | None, str | None]]:
    return {
        (f.test_id, f.cause_id, f.cites[0].insert_id if f.cause_id else None)
        for f in report.failures
    }


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def test_every_failure_with_a_server_cause_has_its_true_evidence_first() -> None:
    truth = json.loads((EXAMPLES / "truth.json").read_text())
    report = analyze(_example_analysis())
    by_test = {f.test_id: f for f in report.failures}
    causes = {c.id: c for c in report.causes}
    assert set(by_test) == set(truth)
    for test_id, expected in truth.items():
        failure = by_test[test_id]
        if expected["rule"] is None:
            assert failure.cause_id is None, test_id
            continue
        assert failure.cause_id is not None, test_id
        assert causes[failure.cause_id].rule_id == expected["rule"]
        assert failure.cites[0].insert_id == expected["insert_id"], test_id
        assert failure.cites[0].join_key != "time"
        assert report.lines_of(failure)[0].insert_id == expected["insert_id"], test_id
        assert failure.confidence >= 0.8


def test_junit_and_sink_inputs_reach_the_same_attribution() -> None:
    from_reportlog = analyze(_example_analysis())
    from_junit = analyze(
        _example_analysis(EXAMPLES / "results" / "junit.xml", EXAMPLES / "logs" / "sink.ndjson")
    )
    assert _attribution(from_junit) == _attribution(from_reportlog)
    assert any("approximate" in note for note in from_junit.notes)


@pytest.mark.parametrize(
    ("fmt", "name"), [(OutputFormat.MARKDOWN, "example.md"), (OutputFormat.JSON, "example.json")]
)
def test_golden_report(fmt: OutputFormat, name: str) -> None:
    text = render(analyze(_example_analysis()), fmt)
    golden = GOLDEN / name
    if os.environ.get("FIVEWHYS_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_same_inputs_same_bytes() -> None:
    first = render(analyze(_example_analysis()), OutputFormat.JSON)
    second = render(analyze(_example_analysis()), OutputFormat.JSON)
    assert first == second


def test_json_report_contract() -> None:
    data = json.loads(render(analyze(_example_analysis()), OutputFormat.JSON))
    assert data["schema_version"] == "1.5"
    lines = {c["id"]: {line["insert_id"] for line in c["evidence"]} for c in data["causes"]}
    for cause in data["causes"]:
        assert len(lines[cause["id"]]) == len(cause["evidence"])  # each line listed once
    for failure in data["failures"]:
        assert {"test_id", "message", "cause_id", "confidence", "cites", "candidates"} <= (
            failure.keys()
        )
        assert "evidence" not in failure
        assert 0 <= failure["confidence"] <= 1
        if failure["cause_id"] is None:  # its candidate lines, whole
            assert failure["cites"] == []
            for line in failure["candidates"]:
                assert {"insert_id", "timestamp", "join_key", "offset_s", "message"} <= line.keys()
            continue
        assert failure["candidates"] == [] and failure["cites"]
        for cite in failure["cites"]:  # each a line its cause lists, with its own join
            assert set(cite) == {"insert_id", "join_key", "offset_s", "matched", "score"}
            assert cite["insert_id"] in lines[failure["cause_id"]]
    for cause in data["causes"]:
        assert {"id", "rule_id", "title", "failures", "whys"} <= cause.keys()
        for why in cause["whys"]:
            assert why["kind"] in {"evidence", "mechanism", "question", "hypothesis"}
            assert (why["kind"] == "evidence") == bool(why["evidence"])


def test_every_format_has_a_renderer() -> None:
    report = analyze(_example_analysis())
    for fmt in OutputFormat:
        assert render(report, fmt).endswith("\n")
