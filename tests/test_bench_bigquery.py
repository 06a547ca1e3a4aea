"""`python -m bench.bigquery` on the small scenario: the query fivewhys sends, run in DuckDB over
each layout of the scenario's entries, returns every line the truth names as evidence and only a
part of the table. (Its speed is printed by the script, never asserted here.)"""

from __future__ import annotations

from pathlib import Path

from bench import bigquery
from bench.generate import ensure


def test_every_true_evidence_line_comes_back_and_the_table_does_not(tmp_path: Path) -> None:
    files = ensure(bigquery.SMALL, tmp_path)
    outcomes, _ = bigquery.measure(files)
    assert [o.dataset for o in outcomes] == ["linked", "sharded", "partitioned"]
    for outcome in outcomes:
        assert outcome.evidence > bigquery.SMALL.failures  # some modes have two lines
        assert outcome.missing == ()
        assert outcome.table_rows == bigquery.SMALL.entries
        assert 0 < outcome.returned < outcome.table_rows / 10
        assert outcome.bytes_billed > 0
    # the same entries in three layouts: the same candidates
    assert len({o.returned for o in outcomes}) == 1
