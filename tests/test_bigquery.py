"""The BigQuery source: the real client against the fake jobs API, both layouts of the bundled
example's entries, and reports equal to the ones the same entries give as files."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from click.testing import CliRunner, Result
from conftest import REPO
from fake_bigquery import FakeBigQuery, serve
from sqlglot import exp

from fivewhys.cli import cli
from fivewhys.logs.bigquery import BigQuerySource, plan, read_bigquery
from fivewhys.logs.bundle import read_bundle
from fivewhys.model import Report, Window
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


# -- the command line ------------------------------------------------------------------------


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def bq_args(fake: FakeBigQuery, dataset: str = "linked", *extra: str) -> list[str]:
    return ["--bigquery", f"{PROJECT}.{dataset}", "--bigquery-endpoint", fake.url, *extra]


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    for name in ("GOOGLE_CLOUD_PROJECT", "FIVEWHYS_BIGQUERY_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


def test_analyze_from_bigquery_reports_the_bytes(fake: FakeBigQuery, tmp_path: Path) -> None:
    out = tmp_path / "rca.md"
    result = run("analyze", str(RESULTS), *bq_args(fake, "sharded", "-v"), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"BigQuery {PROJECT}.sharded: the query will scan ")
    assert "(log sink, date-sharded tables, 4 table(s))" in lines[0]
    assert lines[1].startswith("BigQuery: 20 rows, ")
    assert lines[2] == f"wrote {out}: 4 failure(s), 3 cause(s); 1 client-side"
    assert re.search(
        r"Queried BigQuery dataset `fivewhys-example.sharded` .*: \d+ bytes scanned, "
        r"20 rows returned",
        out.read_text(),
    )


def test_the_endpoint_can_come_from_the_environment(
    fake: FakeBigQuery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIVEWHYS_BIGQUERY_ENDPOINT", fake.url)
    result = run("analyze", str(RESULTS), "--bigquery", f"{PROJECT}.partitioned")
    assert result.exit_code == 0, result.stderr
    assert "Queried BigQuery dataset `fivewhys-example.partitioned` (log sink, partitioned" in (
        result.stdout
    )


def test_max_bytes_refuses_before_anything_runs(fake: FakeBigQuery) -> None:
    jobs_before = len(fake.jobs)
    result = run("analyze", str(RESULTS), *bq_args(fake, "linked", "--max-bytes", "1000"))
    assert result.exit_code == 2
    assert re.fullmatch(
        r"error: the BigQuery query would scan \d+\.\d KiB, more than --max-bytes 1000 B: "
        r"raise --max-bytes, or narrow the windows\n",
        result.stderr,
    )
    assert len(fake.jobs) == jobs_before  # only the dry run went out


@pytest.mark.parametrize(
    ("fault", "dataset", "message"),
    [
        (
            None,
            "nowhere",
            r"404 notFound: Not found: Dataset "
            r"fivewhys-example:nowhere \(does dataset fivewhys-example.nowhere exist",
        ),
        (
            "403",
            "linked",
            r"403 accessDenied: Access Denied: .* \(the account needs "
            r"roles/bigquery.jobUser",
        ),
        ("quota", "linked", r"403 quotaExceeded: Quota exceeded: .* \(BigQuery quota: "),
        ("invalid", "linked", r"400 invalidQuery: Unrecognized name: severity_number at \[31:5\]"),
    ],
)
def test_errors_are_one_line(
    fake: FakeBigQuery, fault: str | None, dataset: str, message: str
) -> None:
    if fault:
        fake.faults.append(fault)
    result = run("analyze", str(RESULTS), *bq_args(fake, dataset))
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert re.match(r"error: BigQuery at http://\S+: " + message, result.stderr), result.stderr


def test_a_result_that_breaks_off_is_reported_as_partial(fake: FakeBigQuery) -> None:
    fake.faults.append("drop-results")
    result = run("analyze", str(RESULTS), *bq_args(fake, "linked"), "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    window = report["query"]["per_window"][0]
    assert window["status"] == "partial"
    assert window["reason"].startswith("the results broke off after 8 rows: 400 invalid: ")
    assert report["log_entries"] == 8  # the first page of 8 rows
    assert "may be incomplete" in report["summary"]


def test_print_sql_runs_as_pasted(fake: FakeBigQuery) -> None:
    result = run("analyze", str(RESULTS), *bq_args(fake, "partitioned"), "--print-sql")
    assert result.exit_code == 0, result.stderr
    script = sqlglot.parse(result.stdout, read="bigquery")
    declares, query = script[:-1], script[-1]
    assert [type(d).__name__ for d in declares] == ["Declare"] * 5
    defaults = {str(item.this[0]): item.args["default"] for d in declares for item in d.expressions}
    assert set(defaults) == {"p_scan_start", "p_scan_end", "p_windows", "p_keys", "p_services"}
    assert "@" not in query.sql(dialect="bigquery")
    keys = [lit.this for lit in defaults["p_keys"].expressions]
    assert "usr_1907ff57" in keys and not any(k in query.sql() for k in keys)
    # the query with its variables replaced by their DECLAREd values, in the fake's engine
    pasted = query.transform(
        lambda node: (
            defaults[node.name].copy()
            if isinstance(node, exp.Column) and node.name in defaults and not node.table
            else node
        )
    )
    rows = fake.db.execute(pasted.sql(dialect="duckdb")).fetchall()
    returned = pull_bigquery([RESULTS], source(fake, "partitioned")).frame
    assert sorted(r[3] for r in rows) == sorted(returned.get_column("insert_id").to_list())


def test_print_sql_needs_bigquery() -> None:
    result = run("analyze", str(RESULTS), "--print-sql")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --print-sql prints the BigQuery query: add --bigquery P.DATASET\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bigquery", "no-dataset"], "--bigquery: expected PROJECT.DATASET"),
        (["--bigquery", "p.d", "--logs", str(SINK)], "give one source of logs"),
        (["--bigquery", "pp.d", "--bigquery-endpoint", "ftp://x"], "--bigquery-endpoint: not an"),
    ],
)
def test_bad_options(args: list[str], message: str) -> None:
    result = run("analyze", str(RESULTS), *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {message}")


def test_pull_from_bigquery_then_analyze_offline_gives_the_same_report(
    fake: FakeBigQuery, tmp_path: Path
) -> None:
    kept, live_out, offline_out = tmp_path / "kept.parquet", tmp_path / "a.md", tmp_path / "b.md"
    live = run(
        "analyze", str(RESULTS), *bq_args(fake), "--save-logs", str(kept), "-o", str(live_out)
    )
    assert live.exit_code == 0, live.stderr
    offline = run("analyze", str(RESULTS), "--logs", str(kept), "-o", str(offline_out))
    assert offline.exit_code == 0, offline.stderr
    assert offline_out.read_bytes() == live_out.read_bytes()

    bundle = tmp_path / "pulled.parquet"
    result = run("pull", str(RESULTS), *bq_args(fake, "sharded"), "-o", str(bundle))
    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(
        rf"wrote {re.escape(str(bundle))}: 20 entries from BigQuery fivewhys-example.sharded, "
        r"1 window\(s\), 0 not complete; \d+ bytes scanned\n",
        result.stderr,
    )
    meta = read_bundle(str(bundle))[1]
    assert meta.pull.bigquery is not None and meta.pull.bigquery.bytes_scanned > 0
    assert meta.pull.bigquery.tables[0].endswith("_20261121")


# -- the query's reach: escaping, shards and partitions, nothing found ------------------------

WINDOW = Window(
    start=datetime(2026, 11, 21, 23, 35, 35, tzinfo=UTC),
    end=datetime(2026, 11, 21, 23, 36, 22, tzinfo=UTC),
)


def _shifted(days: int) -> list[dict[str, Any]]:
    moved = []
    for entry in ENTRIES:
        moment = datetime.fromisoformat(entry["timestamp"]) + timedelta(days=days)
        moved.append(
            {**entry, "timestamp": moment.isoformat(), "insertId": f"{entry['insertId']}-{days}"}
        )
    return moved


@pytest.fixture(scope="module")
def wide() -> Iterator[FakeBigQuery]:
    """The example's day and the next one, and a line holding an id that needs escaping."""
    odd = {
        **ENTRIES[5],
        "insertId": "odd",
        "jsonPayload": {"message": "refused user q'u\"o\\te", "user_id": "q'u\"o\\te"},
    }
    entries = [*ENTRIES, *_shifted(1), odd]
    for running in serve(FakeBigQuery()):
        for dataset, sharded in (("sharded", True), ("partitioned", False)):
            running.load_sink(PROJECT, dataset, entries, sharded=sharded)
            running.load_sink(PROJECT, f"{dataset}_day", [*ENTRIES, odd], sharded=sharded)
        running.load_log_analytics(PROJECT, "linked", entries)
        yield running


@pytest.mark.parametrize("dataset", ["sharded", "partitioned", "linked"])
def test_an_id_with_quotes_and_backslashes_is_a_parameter(wide: FakeBigQuery, dataset: str) -> None:
    key = "q'u\"o\\te"
    layout, query = plan(source(wide, dataset), [WINDOW], [key])
    assert key not in query.sql and "q'u" not in query.sql
    read = read_bigquery(source(wide, dataset), [WINDOW], [key])
    assert "odd" in read.frame.get_column("insert_id").to_list()
    # the console's literal is the same string
    declare = sqlglot.parse(query.console(), read="bigquery")[3]
    assert key in [lit.this for lit in declare.expressions[0].args["default"].expressions]


def test_only_the_windows_shards_and_partitions_are_scanned(wide: FakeBigQuery) -> None:
    _, query = plan(source(wide, "sharded"), [WINDOW], [])
    assert {t.rsplit("_", 1)[1] for t in query.tables} == {"20261121"}
    for dataset in ("sharded", "partitioned"):
        both_days = read_bigquery(source(wide, dataset), [WINDOW], []).pulls[0].bigquery
        one_day = read_bigquery(source(wide, f"{dataset}_day"), [WINDOW], []).pulls[0].bigquery
        assert both_days is not None and one_day is not None
        assert both_days.bytes_scanned == one_day.bytes_scanned > 0


def test_a_window_with_nothing_in_it_is_an_empty_read(wide: FakeBigQuery) -> None:
    later = Window(start=WINDOW.start + timedelta(days=5), end=WINDOW.end + timedelta(days=5))
    for dataset in ("sharded", "partitioned", "linked"):
        read = read_bigquery(source(wide, dataset), [later], ["usr_1907ff57"])
        assert read.frame.height == 0
        assert read.pulls[0].windows[0].status == "complete"


def test_a_redirect_request_log_is_a_time_only_candidate() -> None:
    """The redirect rule joins a 301/302/307/308 request log by time (an http:// client sends no
    trace): with no key in the row it must still come back; a 200 or a 101 must not."""
    request = next(e for e in ENTRIES if e.get("httpRequest", {}).get("status") == 200)
    bare = {k: v for k, v in request.items() if k not in ("trace", "spanId")}
    statuses = {"s301": 301, "s307": 307, "s308": 308, "s404": 404, "s200": 200, "s101": 101}
    statuses |= {"s299": 299}
    lines = [
        {**bare, "insertId": name, "httpRequest": {**bare["httpRequest"], "status": status}}
        for name, status in statuses.items()
    ]
    for running in serve(FakeBigQuery()):
        running.load_log_analytics(PROJECT, "linked", lines)
        running.load_sink(PROJECT, "sink", lines, sharded=False)
        for dataset in ("linked", "sink"):
            read = read_bigquery(source(running, dataset), [WINDOW], [])
            returned = set(read.frame.get_column("insert_id").to_list())
            assert returned == {"s301", "s307", "s308", "s404"}, dataset
