"""The BigQuery source: the real client against the fake jobs API, both layouts of the bundled
example's entries, and reports equal to the ones the same entries give as files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from fake_bigquery import FakeBigQuery, serve

from fivewhys.logs.bigquery import BigQuerySource
from fivewhys.model import Report
from fivewhys.pipeline import Analysis, OutputFormat, analyze, pull_bigquery, render

PROJECT = "fivewhys-example"
RESULTS = REPO / "examples" / "results" / "report-log.jsonl"
SINK = REPO / "examples" / "logs" / "sink.ndjson"
LINES = [line for line in SINK.read_text(encoding="utf-8").splitlines() if line]
ENTRIES = [json.loads(line) for line in LINES]
LAYOUTS = ("linked", "sharded", "partitioned")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBigQuery]:
    for running in serve(FakeBigQuery()):
        running.load_log_analytics(PROJECT, "linked", ENTRIES)
        running.load_sink(PROJECT, "sharded", ENTRIES, sharded=True)
        running.load_sink(PROJECT, "partitioned", ENTRIES, sharded=False)
        yield running


def source(fake: FakeBigQuery, dataset: str, **options: object) -> BigQuerySource:
    return BigQuerySource(project=PROJECT, dataset=dataset, endpoint=fake.url, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("dataset", LAYOUTS)
def test_the_report_is_the_one_the_same_entries_give_as_files(
    fake: FakeBigQuery, dataset: str, tmp_path: Path
) -> None:
    bigquery = source(fake, dataset)
    returned = set(pull_bigquery([RESULTS], bigquery).frame.get_column("insert_id").to_list())
    assert 0 < len(returned) < len(ENTRIES)  # the candidates only
    same = tmp_path / "same.ndjson"
    same.write_text(
        "".join(
            f"{line}\n" for line, e in zip(LINES, ENTRIES, strict=True) if e["insertId"] in returned
        )
    )
    from_bigquery = analyze(Analysis(results=[RESULTS], bigquery=bigquery))
    from_files = analyze(Analysis(results=[RESULTS], logs=[str(same)]))
    ours = render(from_bigquery, OutputFormat.MARKDOWN).splitlines()
    theirs = render(from_files, OutputFormat.MARKDOWN).splitlines()
    # only the lines naming where the entries came from differ: the sources, the query or
    # the file read, and the windows table (pulled windows have a Read column)
    assert _sans_origin(ours, "Queried BigQuery dataset ") == _sans_origin(theirs, f"- {_md(same)}")
    assert json_sans_origin(render(from_bigquery, OutputFormat.JSON)) == json_sans_origin(
        render(from_files, OutputFormat.JSON)
    )
    # and each failure has the cause and first evidence every entry as a file gives (the
    # INFO lines without a key that a full read lists after it are not candidates)
    full = analyze(Analysis(results=[RESULTS], logs=[str(SINK)]))
    assert attribution(from_bigquery) == attribution(full)


def _md(path: Path) -> str:
    return str(path).replace("_", "\\_")


def _sans_origin(lines: list[str], origin: str) -> list[str]:
    kept = [
        line
        for line in lines
        if not line.startswith((origin, "| Window |", "|---:|", "| 1 |"))
        and " log entries from: " not in line
    ]
    assert len(lines) - len(kept) == 5, [line for line in lines if line not in kept]
    return kept


def json_sans_origin(text: str) -> dict[str, Any]:
    report = json.loads(text)
    query = report["query"]
    for key in ("sources", "pulls"):
        query.pop(key)
    for window in query["per_window"]:
        window.pop("status")
        window.pop("reason")
    report.pop("log_files")
    report["notes"] = [n for n in report["notes"] if " entries read, " not in n]
    return report


def attribution(report: Report) -> list[tuple[str, str | None, str | None]]:
    return [
        (f.test_id, f.rule_id, f.evidence[0].insert_id if f.cause_id else None)
        for f in report.failures
    ]
