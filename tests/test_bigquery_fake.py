"""The fake BigQuery jobs API answers the real google-cloud-bigquery client as the service does:
parameterized queries run in DuckDB, results page, dry runs say the bytes, errors are Google's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import REPO
from fake_bigquery import FakeBigQuery, serve
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

PROJECT = "fivewhys-example"
ENTRIES = [
    json.loads(line)
    for line in (REPO / "examples" / "logs" / "sink.ndjson").read_text().split("\n")
    if line
]


@pytest.fixture
def fake() -> Iterator[FakeBigQuery]:
    for running in serve(FakeBigQuery()):
        running.load_log_analytics(PROJECT, "linked", ENTRIES)
        running.load_sink(PROJECT, "sink", ENTRIES, sharded=False)
        yield running


def client(fake: FakeBigQuery) -> bigquery.Client:
    return bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=fake.url),
    )


def query(fake: FakeBigQuery, sql: str, *params: Any, **config: Any) -> bigquery.QueryJob:
    job_config = bigquery.QueryJobConfig(query_parameters=list(params), **config)
    return client(fake).query(sql, job_config=job_config)


def test_the_real_client_runs_a_parameterized_query_over_pages(fake: FakeBigQuery) -> None:
    job = query(
        fake,
        f"SELECT insert_id, timestamp, JSON_VALUE(resource.labels, '$.service_name') AS service"
        f" FROM `{PROJECT}.linked._AllLogs` WHERE severity_number >= @rank"
        " ORDER BY timestamp, insert_id",
        bigquery.ScalarQueryParameter("rank", "INT64", 0),
    )
    rows = list(job.result())
    expected = sorted((e["timestamp"], e["insertId"]) for e in ENTRIES)
    assert [r["insert_id"] for r in rows] == [insert_id for _, insert_id in expected]
    assert {r["service"] for r in rows} == {"chat-backend"}
    assert rows[0]["timestamp"].isoformat() == "2026-11-21T23:36:05.720983+00:00"
    pages = [r for r in fake.requests if "/queries/" in r[1] and "maxResults=0" not in r[2]]
    assert len(pages) == 8  # 57 rows, 8 a page


def test_a_string_parameter_is_bound_not_pasted(fake: FakeBigQuery) -> None:
    tricky = "x' OR '1'='1"
    job = query(
        fake,
        f"SELECT insert_id FROM `{PROJECT}.linked._AllLogs` WHERE insert_id = @id",
        bigquery.ScalarQueryParameter("id", "STRING", tricky),
    )
    assert list(job.result()) == []


def test_a_dry_run_says_the_bytes_and_the_limit_refuses(fake: FakeBigQuery) -> None:
    sql = f"SELECT insertId FROM `{PROJECT}.sink.run_googleapis_com_stdout`"
    dry = query(fake, sql, dry_run=True, use_query_cache=False)
    assert dry.total_bytes_processed and dry.total_bytes_processed > 1000
    with pytest.raises(exceptions.BadRequest, match="bytes billed"):
        query(fake, sql, maximum_bytes_billed=100).result()


def test_errors_come_in_googles_shape(fake: FakeBigQuery) -> None:
    with pytest.raises(exceptions.NotFound, match="nowhere"):
        query(fake, f"SELECT 1 FROM `{PROJECT}.linked.nowhere`").result()
    with pytest.raises(exceptions.BadRequest, match="Syntax error"):
        query(fake, "SELECT FROM WHERE (").result()
    fake.faults.append("403")
    with pytest.raises(exceptions.Forbidden, match="Access Denied"):
        query(fake, "SELECT 1").result()


def test_the_sink_tables_keep_the_documented_names(fake: FakeBigQuery) -> None:
    tables = {t.table_id: t for t in client(fake).list_tables(f"{PROJECT}.sink")}
    assert sorted(tables) == [
        "run_googleapis_com_requests",
        "run_googleapis_com_stderr",
        "run_googleapis_com_stdout",
        "run_googleapis_com_varlog_system",
    ]
    assert tables["run_googleapis_com_stdout"].time_partitioning.field == "timestamp"
    schema = client(fake).get_table(f"{PROJECT}.sink.run_googleapis_com_stdout").schema
    labels = next(f for f in schema if f.name == "labels")
    assert [f.name for f in labels.fields] == ["instanceid"]  # user-supplied names: lower case


def test_a_bulk_load_holds_what_row_by_row_inserts_hold() -> None:
    """The bench loads through `read_json`; its tables must be the tests' tables, value for
    value (JSON columns compared parsed: DuckDB keeps a JSON text's spacing as given)."""
    rows, bulk = FakeBigQuery(), FakeBigQuery()
    for fake, fast in ((rows, False), (bulk, True)):
        fake.load_log_analytics(PROJECT, "linked", ENTRIES, bulk=fast)
        fake.load_sink(PROJECT, "sharded", ENTRIES, sharded=True, bulk=fast)
        fake.load_sink(PROJECT, "partitioned", ENTRIES, sharded=False, bulk=fast)
    assert bulk.tables == rows.tables
    assert len(rows.tables) == 9  # _AllLogs and the four sink tables, sharded and not
    for project, dataset, table in rows.tables:
        name = f'"{project}"."{dataset}"."{table}"'
        schema, contents = [], []
        for fake in (rows, bulk):
            schema.append(fake.db.execute(f"DESCRIBE {name}").fetchall())
            listed = fake.db.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()
            contents.append([tuple(map(_parsed, row)) for row in listed])
        assert schema[0] == schema[1]
        assert contents[0] == contents[1]
        assert len(contents[0]) > 0
    entries = rows.db.execute(f'SELECT count(*) FROM "{PROJECT}"."linked"."_AllLogs"').fetchone()
    assert entries == (len(ENTRIES),)


def _parsed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _parsed(v) for k, v in value.items()}
    if isinstance(value, str) and value[:1] in "{[":
        return json.loads(value)
    return value
