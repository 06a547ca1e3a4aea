"""The BigQuery path on the bench scenario: `python -m bench.bigquery` (`--lines N`, `--small`).

The scenario's entries are loaded into DuckDB laid out as a Log Analytics linked dataset
(`_AllLogs`) and as a log sink's tables, date-sharded and partitioned (`tests/fake_bigquery.py`,
its bulk path). For each layout the query is the one `fivewhys analyze --bigquery` sends for the
scenario's failures (`fivewhys.pipeline.bigquery_plan`, which reads the layout through the real
client from the fake's `tables.list` / `tables.get`), run as the fake runs it: transpiled by
sqlglot, the parameters bound, in DuckDB. Printed per layout: the rows of the tables it reads,
the rows it returns and their share, the bytes the fake bills (the stored JSON of each table
read, partitions pruned), the query's time, and whether every line the scenario's truth names as
evidence is among the rows returned (those missing are listed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.generate import PROJECT, Scenario, ScenarioFiles, ensure

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fake is test code, kept there

from fake_bigquery import FakeBigQuery, serve  # noqa: E402

from fivewhys.logs.bigquery import BigQuerySource  # noqa: E402
from fivewhys.logs.bigquery_sql import COLUMNS, Query  # noqa: E402
from fivewhys.pipeline import bigquery_plan  # noqa: E402

#: dataset -> the layout it holds
LAYOUTS = {
    "linked": "Log Analytics `_AllLogs`",
    "sharded": "sink, date-sharded",
    "partitioned": "sink, partitioned",
}
#: the scenario tests/test_bench.py checks, and the size `--small` runs
SMALL = Scenario(entries=20_000, failures=60, tests=300, seed=11)


@dataclass(frozen=True)
class Outcome:
    """One layout's run of the query."""

    dataset: str
    table_rows: int
    returned: int
    bytes_billed: int
    seconds: float
    evidence: int
    #: (test, mode, insertId) of each true evidence line the query did not return
    missing: tuple[tuple[str, str, str], ...]


def entries(files: ScenarioFiles) -> Iterator[dict[str, Any]]:
    with files.logs.open(encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


def load(fake: FakeBigQuery, files: ScenarioFiles) -> None:
    """The three layouts of the scenario's entries."""
    fake.load_log_analytics(PROJECT, "linked", entries(files), bulk=True)
    fake.load_sink(PROJECT, "sharded", entries(files), sharded=True, bulk=True)
    fake.load_sink(PROJECT, "partitioned", entries(files), sharded=False, bulk=True)


def bound(query: Query) -> dict[str, Any]:
    """The query's parameters as DuckDB binds them (the fake's reading of the REST values)."""
    values: dict[str, Any] = {}
    for param in query.params:
        if param.type.startswith("ARRAY<STRUCT"):
            values[param.name] = [{"start_at": s, "end_at": e} for s, e in param.value]
        else:
            values[param.name] = param.value
    return values


def run_layout(fake: FakeBigQuery, files: ScenarioFiles, dataset: str) -> Outcome:
    source = BigQuerySource(project=PROJECT, dataset=dataset, endpoint=fake.url)
    query = bigquery_plan([files.results], source)
    if query is None:
        raise SystemExit(f"{files.results}: no failure to query for")
    params = bound(query)
    started = time.perf_counter()
    rows = fake.execute(query.sql, params).fetchall()
    seconds = time.perf_counter() - started
    returned = {row[COLUMNS.index("insert_id")] for row in rows}
    table_rows = 0
    for table in query.tables:
        name = ".".join(f'"{part}"' for part in table.split("."))
        counted = fake.db.execute(f"SELECT count(*) FROM {name}").fetchone()
        table_rows += counted[0] if counted else 0
    truth = json.loads(files.truth.read_text(encoding="utf-8"))
    wanted = [
        (test, t["mode"], line) for test, t in sorted(truth.items()) for line in t["evidence"]
    ]
    return Outcome(
        dataset=dataset,
        table_rows=table_rows,
        returned=len(rows),
        bytes_billed=fake.bytes_scanned(PROJECT, query.sql, params),
        seconds=seconds,
        evidence=len(wanted),
        missing=tuple(w for w in wanted if w[2] not in returned),
    )


def measure(files: ScenarioFiles) -> tuple[list[Outcome], float]:
    """Every layout's outcome on the scenario in `files`, and the seconds loading took."""
    for fake in serve(FakeBigQuery()):
        started = time.perf_counter()
        load(fake, files)
        load_s = time.perf_counter() - started
        return [run_layout(fake, files, dataset) for dataset in LAYOUTS], load_s
    raise AssertionError("unreachable")


def table(scenario: Scenario, outcomes: list[Outcome], load_s: float) -> str:
    lines = [
        f"scenario {scenario.name}: {scenario.entries:,} entries, {scenario.failures:,} failures "
        f"over {scenario.tests:,} tests; loaded into DuckDB in {load_s:.1f} s",
        "",
        "| layout | table rows | rows returned | returned / table | bytes billed (fake) | "
        "query (s) | true evidence returned |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for o in outcomes:
        found = o.evidence - len(o.missing)
        lines.append(
            f"| {LAYOUTS[o.dataset]} | {o.table_rows:,} | {o.returned:,} | "
            f"{100 * o.returned / o.table_rows:.2f}% | {o.bytes_billed / 2**20:.1f} MiB | "
            f"{o.seconds:.2f} | {found}/{o.evidence} |"
        )
    for o in outcomes:
        for test, mode, line in o.missing:
            lines.append(f"missing ({LAYOUTS[o.dataset]}): {line} of {test} ({mode})")
    return "\n".join(lines)


def main() -> None:
    defaults = Scenario()
    parser = argparse.ArgumentParser(prog="python -m bench.bigquery", description=__doc__)
    parser.add_argument("--lines", type=int, default=100_000, help="log entries")
    parser.add_argument("--failures", type=int, default=defaults.failures)
    parser.add_argument("--tests", type=int, default=defaults.tests)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--small", action="store_true", help=f"the small scenario ({SMALL.name})")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    scenario = SMALL if args.small else Scenario(args.lines, args.failures, args.tests, args.seed)
    files = ensure(scenario, args.out)
    outcomes, load_s = measure(files)
    print(table(scenario, outcomes, load_s), flush=True)
    if any(o.missing for o in outcomes):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
