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
from fake_bigquery import FakeBigQuery, serve, sink_kept
from sqlglot import exp

from fivewhys.cli import cli
from fivewhys.config import Settings
from fivewhys.correlate import failure_window
from fivewhys.ids import DEFAULT_PATTERNS
from fivewhys.logs.bigquery import BigQuerySource, plan, read_bigquery
from fivewhys.logs.bigquery_sql import TimeLines
from fivewhys.logs.bundle import read_bundle
from fivewhys.logs.files import LogRead
from fivewhys.logs.query import coalesce
from fivewhys.model import Window
from fivewhys.narrowing import bigquery_lines
from fivewhys.pipeline import Analysis, OutputFormat, analyze, render
from fivewhys.results import read_results
from fivewhys.rules.loader import bundled_rules_dir, load_rules

PROJECT = "fivewhys-example"
RESULTS = REPO / "examples" / "results" / "report-log.jsonl"
SINK = REPO / "examples" / "logs" / "sink.ndjson"
LINES = [line for line in SINK.read_text(encoding="utf-8").splitlines() if line]
ENTRIES = [json.loads(line) for line in LINES]
LAYOUTS = ("linked", "sharded", "partitioned")


SCENARIOS = REPO / "examples" / "scenarios"
#: the suite's scenarios: (results, every entry as a file, project rules)
CASES = {
    "example": (RESULTS, SINK, None),
    "all_modes": (
        SCENARIOS / "all-modes/results/report-log.jsonl",
        SCENARIOS / "all-modes/logs/sink.ndjson",
        SCENARIOS / "all-modes/rules",
    ),
    "node_chat": (
        SCENARIOS / "node-chat/results/report-log.jsonl",
        SCENARIOS / "node-chat/logs/sink.ndjson",
        None,
    ),
}


def _entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBigQuery]:
    for running in serve(FakeBigQuery()):
        running.load_log_analytics(PROJECT, "linked", ENTRIES)
        running.load_sink(PROJECT, "sharded", ENTRIES, sharded=True)
        running.load_sink(PROJECT, "partitioned", ENTRIES, sharded=False)
        for case, (_results, logs, _rules) in CASES.items():
            entries = _entries(logs)
            running.load_log_analytics(PROJECT, f"{case}_linked", entries)
            running.load_sink(PROJECT, f"{case}_sink", entries, sharded=False)
        yield running


def source(fake: FakeBigQuery, dataset: str, **options: object) -> BigQuerySource:
    return BigQuerySource(project=PROJECT, dataset=dataset, endpoint=fake.url, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("layout", ["linked", "sink"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_report_is_the_one_every_entry_gives_as_files(
    fake: FakeBigQuery, case: str, layout: str, tmp_path: Path
) -> None:
    results, logs, rules = CASES[case]
    dirs = [rules] if rules else []
    bigquery = source(fake, f"{case}_{layout}")
    if layout == "sink":
        # a sink keeps payload and label names lower-cased (the id keys get theirs back) and no
        # empty object: every entry as files, as the sink keeps them
        kept = tmp_path / "kept.ndjson"
        kept.write_text("".join(json.dumps(sink_kept(e)) + "\n" for e in _entries(logs)))
        logs = kept
    from_bigquery = analyze(Analysis(results=[results], bigquery=bigquery, rule_dirs=dirs))
    from_files = analyze(Analysis(results=[results], logs=[str(logs)], rule_dirs=dirs))
    assert from_files.causes  # the case explains something
    ours = render(from_bigquery, OutputFormat.MARKDOWN).splitlines()
    theirs = render(from_files, OutputFormat.MARKDOWN).splitlines()
    # only the lines naming where the entries came from (and how many were read) differ: the
    # sources, the query or the file read, and the windows table (pulled windows have a Read
    # column)
    windows = len(from_files.query.per_window)
    assert _sans_origin(ours, "Queried BigQuery dataset ", windows) == _sans_origin(
        theirs, f"- {_md(logs)}", windows
    )
    assert json_sans_origin(render(from_bigquery, OutputFormat.JSON)) == json_sans_origin(
        render(from_files, OutputFormat.JSON)
    )


def first_query(bigquery: BigQuerySource, case: str) -> LogRead:
    """What the first query alone returns for `case` (no second query for the unexplained)."""
    results, _logs, rules = CASES[case]
    read = read_results([results], patterns=DEFAULT_PATTERNS)
    failures = [f for f in read.failures if f.placed]
    settings = Settings()
    loaded = load_rules([bundled_rules_dir(), *([rules] if rules else [])], collect_errors=False)
    time, _whole = bigquery_lines(failures, loaded, settings, read.intervals, PROJECT)
    windows = coalesce([failure_window(f, settings.window) for f in failures])
    ids = {k for f in failures for k in (*f.ids.connection_ids, *f.ids.user_ids, *f.ids.traces)}
    return read_bigquery(bigquery, windows, sorted(ids), time=time)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_first_query_leaves_out_what_no_rule_can_read(fake: FakeBigQuery, case: str) -> None:
    """The near miss: lines of the windows that are neither keyed nor a time-joining rule's kind
    (INFO lines of other users, plain successes) do not come back from the first query."""
    _results, logs, _rules = CASES[case]
    windows = first_query(source(fake, f"{case}_linked"), case).pulls[0].windows
    for layout in ("linked", "sink"):
        first = first_query(source(fake, f"{case}_{layout}"), case)
        inside = [
            e
            for e in _entries(logs)
            if any(w.start <= datetime.fromisoformat(e["timestamp"]) <= w.end for w in windows)
        ]
        assert 0 < first.frame.height < len(inside), layout
        # and what it keeps out is what the second query is for
        assert first.pulls[0].bigquery is not None and first.pulls[0].bigquery.queries == 1


def _md(path: Path) -> str:
    return str(path).replace("_", "\\_")


def _sans_origin(lines: list[str], origin: str, windows: int = 1) -> list[str]:
    rows = tuple(f"| {n} |" for n in range(1, windows + 1))
    gone = [
        line
        for line in lines
        if line.startswith((origin, "| Window |", "|---:|", *rows))
        or " log entries from: " in line
        or _file_shape(line)
    ]
    assert sum(line.startswith(origin) for line in gone) == 1, gone
    assert sum(line.startswith(rows) for line in gone) == windows, gone
    kept = "\n".join(line for line in lines if line not in gone)
    # a notes section that held only those lines goes with them
    return kept.replace("## Notes\n\n\n", "").splitlines()


def _file_shape(line: str) -> bool:
    """A note on how the file wrote its entries: a LogEntry without a severity is written
    without the field in JSON (the enum's default), a BigQuery row has `DEFAULT`."""
    return " log entries mapped from a non-standard shape: no severity (DEFAULT)." in line


def json_sans_origin(text: str) -> dict[str, Any]:
    report = json.loads(text)
    query = report["query"]
    for key in ("sources", "pulls"):
        query.pop(key)
    for window in query["per_window"]:
        window.pop("status")
        window.pop("reason")
        window.pop("entries")  # how many were read: fewer from BigQuery, by design
    report.pop("log_files")
    report.pop("log_entries")
    report["notes"] = [
        n for n in report["notes"] if " entries read, " not in n and not _file_shape(n)
    ]
    return report


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
    # a failure no rule explains lists any line of its window: a second query reads it whole
    assert lines[1].startswith(
        f"BigQuery {PROJECT}.sharded: a second query (every line of 1 window(s) left "
        "unexplained) will scan "
    )
    assert re.fullmatch(r"BigQuery: 57 rows, \d+\.\d KiB scanned in 2 queries", lines[2])
    assert lines[3] == f"wrote {out}: 4 failure(s), 3 cause(s); 1 client-side"
    assert re.search(
        r"Queried BigQuery dataset `fivewhys-example.sharded` .*: \d+ bytes scanned, "
        r"57 rows returned \(the failures' keyed lines and the lines a rule joins by time; a "
        r"second query read every line of the windows of the failures left unexplained\)",
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
    assert result.stdout.startswith("-- the first query of a BigQuery analysis: ")
    assert "a second query may follow" in result.stdout.replace("\n-- ", " ")
    script = sqlglot.parse(result.stdout, read="bigquery")
    declares, query = script[:-1], script[-1]
    assert {type(d).__name__ for d in declares} == {"Declare"}
    defaults = {str(item.this[0]): item.args["default"] for d in declares for item in d.expressions}
    basics = {"p_scan_start", "p_scan_end", "p_windows", "p_keys", "p_services", "p_bands"}
    assert basics <= set(defaults) and len(defaults) == len(declares)
    assert {"p_t0_kinds", "p_t0_severities"} <= set(defaults)  # the rules' line tests
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
    returned = first_query(source(fake, "partitioned"), "example").frame
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
        rf"wrote {re.escape(str(bundle))}: 57 entries from BigQuery fivewhys-example.sharded, "
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
    trace): with no key in the row it must still come back; a 200, a 404 or a 101 must not."""
    request = next(e for e in ENTRIES if e.get("httpRequest", {}).get("status") == 200)
    bare = {k: v for k, v in request.items() if k not in ("trace", "spanId")}
    statuses = {"s301": 301, "s307": 307, "s308": 308, "s404": 404, "s200": 200, "s101": 101}
    statuses |= {"s299": 299}
    lines = [
        {**bare, "insertId": name, "httpRequest": {**bare["httpRequest"], "status": status}}
        for name, status in statuses.items()
    ]
    rules = load_rules([REPO / "rules"], collect_errors=False)
    redirect = [r for r in rules if r.id == "http-redirect-307"]
    read = read_results([RESULTS], patterns=DEFAULT_PATTERNS)
    failures = [f for f in read.failures if f.placed]
    tests = bigquery_lines(failures, redirect, Settings(), read.intervals, PROJECT)[0].tests
    assert tests  # the rule's selection, read off the rule
    time = TimeLines(bands=(WINDOW,), tests=tests)
    everything = TimeLines(bands=(WINDOW,), tests=None)
    for running in serve(FakeBigQuery()):
        running.load_log_analytics(PROJECT, "linked", lines)
        running.load_sink(PROJECT, "sink", lines, sharded=False)
        for dataset in ("linked", "sink"):
            read_back = read_bigquery(source(running, dataset), [WINDOW], [], time=time)
            returned = set(read_back.frame.get_column("insert_id").to_list())
            assert returned == {"s301", "s307", "s308"}, dataset
            # the near miss: the same band with any line in it
            every = read_bigquery(source(running, dataset), [WINDOW], [], time=everything)
            assert every.frame.height == len(lines)
