"""A fake BigQuery REST API on loopback, for the real google-cloud-bigquery client: the jobs API
(`jobs.insert`, `jobs.query`, `jobs.getQueryResults`, `jobs.get`), `tables.list` and
`tables.get`, dry runs, `maximumBytesBilled`, and errors in Google's JSON error shape.

It executes the SQL it receives in DuckDB, after `sqlglot.transpile(sql, read="bigquery",
write="duckdb")`, with the named query parameters bound (nothing is pasted into the SQL). The
tables are laid out as Cloud Logging writes them (test code only; nothing in `src/` knows it):

- Log Analytics linked dataset, view `_AllLogs`: the LogEntry fields in snake_case, with
  `json_payload`, `proto_payload`, `labels` and `resource.labels` as JSON, `log_id` the decoded
  log id, `severity_number`, and `http_request.latency` as STRUCT<seconds, nanos>. Source: "Log
  Analytics: query and analyze logs" / "Schema of log views" in Cloud Logging's docs
  (cloud.google.com/logging/docs/analyze/query-and-view) and the LogEntry reference.
- Classic log sink, one table per log: `run_googleapis_com_requests`, `..._stdout`, `..._stderr`,
  `..._varlog_system` (the log id with `.` and `/` as `_`), date-sharded `<table>_YYYYMMDD` or
  partitioned by DAY on `timestamp`. LogEntry fields keep their camelCase names; user-supplied
  field names (payload keys, `labels` keys) are lower-cased and characters other than letters,
  digits and `_` become `_`; `jsonPayload` is a RECORD of the fields seen. Source: "BigQuery
  schema for routed logs" (cloud.google.com/logging/docs/export/bigquery), "Field naming
  conventions" and "Partitioned tables". `httpRequest.latency` is kept as the Duration's JSON
  string (`"0.012s"`); fivewhys casts it to STRING, so a FLOAT64 column reads the same.

Bytes scanned are the stored bytes (the rows' JSON) of every table the query names; a
partitioned table counts only the days its `timestamp` column is constrained to by a timestamp
parameter range (`timestamp BETWEEN @a AND @b`), the way BigQuery prunes partitions.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import duckdb
import pytest
import sqlglot
from sqlglot import exp

_SINK_LOGS = {
    "run.googleapis.com/requests": "run_googleapis_com_requests",
    "run.googleapis.com/stdout": "run_googleapis_com_stdout",
    "run.googleapis.com/stderr": "run_googleapis_com_stderr",
    "run.googleapis.com/varlog/system": "run_googleapis_com_varlog_system",
}
_SEVERITY = {"DEFAULT": 0, "DEBUG": 100, "INFO": 200, "NOTICE": 300, "WARNING": 400}
_SEVERITY |= {"ERROR": 500, "CRITICAL": 600, "ALERT": 700, "EMERGENCY": 800}
_DUCK_TYPES = {
    "VARCHAR": "STRING",
    "JSON": "JSON",
    "BIGINT": "INTEGER",
    "INTEGER": "INTEGER",
    "HUGEINT": "INTEGER",
    "DOUBLE": "FLOAT",
    "BOOLEAN": "BOOLEAN",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
}
_PAGE_ROWS = 8  # small pages, so the client's paging is exercised


@dataclass
class Job:
    job_id: str
    query: str
    rows: list[tuple[Any, ...]]
    schema: list[dict[str, str]]
    bytes: int
    location: str


@dataclass
class FakeBigQuery:
    """The fake's state: a DuckDB database whose catalogs are projects and schemas datasets."""

    location: str = "US"
    db: duckdb.DuckDBPyConnection = field(default_factory=duckdb.connect)
    #: (project, dataset, table) -> kind ("VIEW" / "TABLE"), partitioned on `timestamp`, bytes/day
    tables: dict[tuple[str, str, str], tuple[str, bool, dict[date, int]]] = field(
        default_factory=dict
    )
    jobs: dict[str, Job] = field(default_factory=dict)
    #: (method, path, query string, body) of every request
    requests: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    #: faults for the next jobs.insert calls: "403", "quota", "invalid" (a query error), or
    #: "drop-results" (the job runs, its second page of results fails)
    faults: list[str] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- loading ---------------------------------------------------------------------------

    def _schema(self, project: str, dataset: str) -> str:
        catalogs = {row[0] for row in self.db.execute("SHOW DATABASES").fetchall()}
        if project not in catalogs:
            self.db.execute(f"ATTACH ':memory:' AS {_q(project)}")
        self.db.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(project)}.{_q(dataset)}")
        return f"{_q(project)}.{_q(dataset)}"

    def load_log_analytics(
        self,
        project: str,
        dataset: str,
        entries: Iterable[dict[str, Any]],
        *,
        bulk: bool = False,
    ) -> None:
        """`_AllLogs` of a linked dataset holding `entries` (LogEntry JSON, camelCase). `bulk`
        loads the same rows through one `read_json` instead of one INSERT a row (for the bench's
        hundreds of thousands of entries)."""
        where = self._schema(project, dataset)
        ddl = ", ".join(f"{_q(k)} {t}" for k, t in _ANALYTICS_COLUMNS.items())
        self.db.execute(f"CREATE TABLE {where}._AllLogs ({ddl})")
        days: dict[date, int] = {}
        with _Bulk(self.db, f"{where}._AllLogs", _ANALYTICS_COLUMNS, bulk) as load:
            for entry in entries:
                load.add(_analytics_row(entry))
                day = _day(entry["timestamp"])
                days[day] = days.get(day, 0) + len(json.dumps(entry))
        self.tables[(project, dataset, "_AllLogs")] = ("VIEW", False, days)

    def load_sink(
        self,
        project: str,
        dataset: str,
        entries: Iterable[dict[str, Any]],
        *,
        sharded: bool,
        bulk: bool = False,
    ) -> None:
        """The tables a BigQuery log sink writes for `entries`, date-sharded or partitioned
        (`bulk`: as in `load_log_analytics`)."""
        where = self._schema(project, dataset)
        groups: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            base = _SINK_LOGS.get(_log_id(entry.get("logName")) or "")
            if base is None:
                continue
            name = f"{base}_{_day(entry['timestamp']):%Y%m%d}" if sharded else base
            groups.setdefault(name, []).append(_sink_entry(entry))
        for name, rows in sorted(groups.items()):
            columns = _record_type(rows)
            ddl = ", ".join(f"{_q(k)} {t}" for k, t in columns.items())
            self.db.execute(f"CREATE TABLE {where}.{_q(name)} ({ddl})")
            days: dict[date, int] = {}
            with _Bulk(self.db, f"{where}.{_q(name)}", columns, bulk) as load:
                for row in rows:
                    load.add(tuple(_duck_value(row.get(k), t) for k, t in columns.items()))
                    day = _day(row["timestamp"])
                    days[day] = days.get(day, 0) + len(json.dumps(row))
            self.tables[(project, dataset, name)] = ("TABLE", not sharded, days)

    def execute(self, sql: str, params: dict[str, Any]) -> duckdb.DuckDBPyConnection:
        """Run BigQuery Standard SQL in DuckDB: transpiled by sqlglot, the parameters bound."""
        duck_sql = sqlglot.transpile(sql, read="bigquery", write="duckdb")[0]
        used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", duck_sql)}
        # BigQuery lets a query leave a parameter unused; DuckDB does not
        return self.db.execute(duck_sql, used)

    def bytes_scanned(self, project: str, sql: str, params: dict[str, Any]) -> int:
        """The bytes the query is billed for: every table it names, pruned partitions aside."""
        tree = sqlglot.parse_one(sql, read="bigquery")
        names = [(t.catalog or project, t.db, t.name) for t in tree.find_all(exp.Table) if t.db]
        return sum(self._bytes(name, params, sql) for name in dict.fromkeys(names))

    # -- the API ---------------------------------------------------------------------------

    def handle(self, method: str, url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(url)
        path = parts.path.removeprefix("/bigquery/v2")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.requests.append((method, path, parts.query, body))
        segments = [unquote(s) for s in path.strip("/").split("/")]
        match segments:
            case ["projects", project, "jobs"] if method == "POST":
                return self._insert(project, body)
            case ["projects", project, "queries"] if method == "POST":
                return self._jobs_query(project, body)
            case ["projects", project, "queries", job_id] if method == "GET":
                return self._results(project, job_id, query)
            case ["projects", project, "jobs", job_id] if method == "GET":
                return self._job(project, job_id)
            case ["projects", project, "datasets", dataset] if method == "GET":
                return self._dataset(project, dataset)
            case ["projects", project, "datasets", dataset, "tables"] if method == "GET":
                return self._tables(project, dataset)
            case ["projects", project, "datasets", dataset, "tables", table] if method == "GET":
                return self._table(project, dataset, table)
        return 404, error(404, "notFound", f"Not found: {method} {path}")

    def _fault(self) -> tuple[int, dict[str, Any]] | None:
        fault = self.faults.pop(0) if self.faults else None
        if fault == "403":
            return 403, error(
                403,
                "accessDenied",
                "Access Denied: Project p: User does not have bigquery.jobs.create permission "
                "in project p.",
            )
        if fault == "quota":
            return 403, error(
                403,
                "quotaExceeded",
                "Quota exceeded: Your project exceeded quota for free query bytes scanned.",
            )
        if fault == "invalid":
            return 400, error(400, "invalidQuery", "Unrecognized name: severity_number at [31:5]")
        if fault == "drop-results":
            self.faults.insert(0, "drop-results")
        return None

    def _insert(self, project: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        fault = self._fault()
        if fault:
            return fault
        config = body.get("configuration", {})
        reference = body.get("jobReference", {})
        job_id = reference.get("jobId") or f"job_{uuid.uuid4().hex}"
        status, answer = self._run(project, job_id, config)
        if status != 200:
            return status, answer
        if config.get("dryRun"):
            reference = {"projectId": project, "location": self.location}
        else:
            reference = {"projectId": project, "jobId": job_id, "location": self.location}
        answer = {**answer, "jobReference": reference, "configuration": config}
        return 200, answer

    def _jobs_query(self, project: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        job_id = f"job_{uuid.uuid4().hex}"
        config = {"query": {k: v for k, v in body.items() if k != "dryRun"}}
        config["dryRun"] = body.get("dryRun", False)
        status, answer = self._run(project, job_id, config)
        if status != 200:
            return status, answer
        options = body.get("formatOptions") or {}
        page = self._results(
            project,
            job_id,
            {
                "maxResults": body.get("maxResults"),
                "formatOptions.useInt64Timestamp": options.get("useInt64Timestamp"),
            },
        )[1]
        return 200, {**page, "kind": "bigquery#queryResponse"}

    def _run(self, project: str, job_id: str, config: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        query = config.get("query", {})
        sql = query.get("query", "")
        if query.get("useLegacySql", True) is not False:
            return 400, error(400, "invalid", "fivewhys writes Standard SQL: useLegacySql false")
        try:
            tree = sqlglot.parse_one(sql, read="bigquery")
        except sqlglot.errors.ParseError as exc:
            first = exc.errors[0] if exc.errors else {}
            where = f" at [{first.get('line', 1)}:{first.get('col', 1)}]"
            return 400, error(400, "invalidQuery", f"Syntax error: {exc}{where}")
        names = [(t.catalog or project, t.db, t.name) for t in tree.find_all(exp.Table) if t.db]
        for name in names:
            if name not in self.tables:
                return 404, error(
                    404,
                    "notFound",
                    f"Not found: Table {name[0]}:{name[1]}.{name[2]} was not "
                    f"found in location {self.location}",
                )
        params = {p["name"]: _param(p) for p in query.get("queryParameters", [])}
        scanned = self.bytes_scanned(project, sql, params)
        limit = query.get("maximumBytesBilled")
        if limit is not None and scanned > int(limit):
            return 400, error(
                400,
                "bytesBilledLimitExceeded",
                f"Query exceeded limit for bytes billed: {limit}. {scanned} or higher required.",
            )
        statistics = {
            "totalBytesProcessed": str(scanned),
            "query": {"totalBytesProcessed": str(scanned), "statementType": "SELECT"},
        }
        if config.get("dryRun"):
            return 200, {"status": {"state": "DONE"}, "statistics": statistics}
        try:
            result = self.execute(sql, params)
        except duckdb.Error as exc:
            return 400, error(400, "invalidQuery", str(exc).splitlines()[0])
        schema = [
            {"name": d[0], "type": _DUCK_TYPES[str(d[1])], "mode": "NULLABLE"}
            for d in result.description or []
        ]
        rows = result.fetchall()
        with self._lock:
            self.jobs[job_id] = Job(job_id, sql, rows, schema, scanned, self.location)
        statistics["query"]["totalBytesBilled"] = str(scanned)
        return 200, {"kind": "bigquery#job", "id": f"{project}:{self.location}.{job_id}"} | {
            "status": {"state": "DONE"},
            "statistics": statistics,
        }

    def _bytes(self, name: tuple[str, str, str], params: dict[str, Any], sql: str) -> int:
        kind, partitioned, days = self.tables[name]
        if not partitioned:
            return sum(days.values())
        bounds = re.search(r"\btimestamp\s+BETWEEN\s+@(\w+)\s+AND\s+@(\w+)", sql)
        if not bounds or not all(isinstance(params.get(b), datetime) for b in bounds.groups()):
            return sum(days.values())
        low, high = (params[b].date() for b in bounds.groups())
        return sum(size for day, size in days.items() if low <= day <= high)

    def _results(
        self, project: str, job_id: str, query: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        job = self.jobs.get(job_id)
        if job is None:
            return 404, error(404, "notFound", f"Not found: Job {project}:{job_id}")
        start = int(query.get("pageToken") or query.get("startIndex") or 0)
        size = int(query["maxResults"]) if query.get("maxResults") not in (None, "") else None
        size = _PAGE_ROWS if size is None else min(size, _PAGE_ROWS)
        if start and self.faults and self.faults[0] == "drop-results":
            self.faults.pop(0)
            return 400, error(400, "invalid", "The job's results are no longer available")
        micros = str(query.get("formatOptions.useInt64Timestamp")).lower() == "true"
        page = job.rows[start : start + size]
        answer: dict[str, Any] = {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": {"projectId": project, "jobId": job_id, "location": job.location},
            "schema": {"fields": job.schema},
            "totalRows": str(len(job.rows)),
            "jobComplete": True,
            "totalBytesProcessed": str(job.bytes),
            "cacheHit": False,
        }
        if size:
            answer["rows"] = [
                {
                    "f": [
                        {"v": _cell(v, f["type"], micros)}
                        for v, f in zip(row, job.schema, strict=True)
                    ]
                }
                for row in page
            ]
            if start + size < len(job.rows):
                answer["pageToken"] = str(start + size)
        return 200, answer

    def _job(self, project: str, job_id: str) -> tuple[int, dict[str, Any]]:
        job = self.jobs.get(job_id)
        if job is None:
            return 404, error(404, "notFound", f"Not found: Job {project}:{job_id}")
        return 200, {
            "kind": "bigquery#job",
            "id": f"{project}:{job.location}.{job_id}",
            "jobReference": {"projectId": project, "jobId": job_id, "location": job.location},
            "configuration": {"query": {"query": job.query}},
            "status": {"state": "DONE"},
            "statistics": {"totalBytesProcessed": str(job.bytes)},
        }

    def _dataset(self, project: str, dataset: str) -> tuple[int, dict[str, Any]]:
        if not any(k[:2] == (project, dataset) for k in self.tables):
            return 404, error(404, "notFound", f"Not found: Dataset {project}:{dataset}")
        reference = {"projectId": project, "datasetId": dataset}
        return 200, {"kind": "bigquery#dataset", "datasetReference": reference}

    def _tables(self, project: str, dataset: str) -> tuple[int, dict[str, Any]]:
        if not any(k[:2] == (project, dataset) for k in self.tables):
            return 404, error(404, "notFound", f"Not found: Dataset {project}:{dataset}")
        listed = [
            self._table_resource(k) for k in sorted(self.tables) if k[:2] == (project, dataset)
        ]
        return 200, {"kind": "bigquery#tableList", "tables": listed, "totalItems": len(listed)}

    def _table(self, project: str, dataset: str, table: str) -> tuple[int, dict[str, Any]]:
        key = (project, dataset, table)
        if key not in self.tables:
            return 404, error(404, "notFound", f"Not found: Table {project}:{dataset}.{table}")
        described = self.db.execute(f"DESCRIBE {_q(project)}.{_q(dataset)}.{_q(table)}")
        fields = [_field(name, kind) for name, kind, *_ in described.fetchall()]
        return 200, {**self._table_resource(key), "schema": {"fields": fields}}

    def _table_resource(self, key: tuple[str, str, str]) -> dict[str, Any]:
        kind, partitioned, _ = self.tables[key]
        resource: dict[str, Any] = {
            "kind": "bigquery#table",
            "id": f"{key[0]}:{key[1]}.{key[2]}",
            "tableReference": {"projectId": key[0], "datasetId": key[1], "tableId": key[2]},
            "type": kind,
        }
        if partitioned:
            resource["timePartitioning"] = {"type": "DAY", "field": "timestamp"}
        return resource


def error(code: int, reason: str, message: str) -> dict[str, Any]:
    """Google's JSON error shape (BigQuery: `errors[].reason` names the kind of failure)."""
    status = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": status.get(code, "UNAVAILABLE"),
        }
    }


# -- rows as Cloud Logging writes them ---------------------------------------------------------

#: the columns of `_AllLogs` this fake builds, with their DuckDB types
_ANALYTICS_COLUMNS = {
    "timestamp": "TIMESTAMPTZ",
    "receive_timestamp": "TIMESTAMPTZ",
    "log_name": "VARCHAR",
    "log_id": "VARCHAR",
    "severity": "VARCHAR",
    "severity_number": "BIGINT",
    "insert_id": "VARCHAR",
    "resource": "STRUCT(type VARCHAR, labels JSON)",
    "labels": "JSON",
    "json_payload": "JSON",
    "proto_payload": "JSON",
    "text_payload": "VARCHAR",
    "http_request": "STRUCT(request_method VARCHAR, request_url VARCHAR, request_size BIGINT,"
    " status BIGINT, response_size BIGINT, user_agent VARCHAR, remote_ip VARCHAR,"
    " protocol VARCHAR, latency STRUCT(seconds BIGINT, nanos BIGINT))",
    "trace": "VARCHAR",
    "span_id": "VARCHAR",
    "trace_sampled": "BOOLEAN",
}


def _analytics_row(entry: dict[str, Any]) -> tuple[Any, ...]:
    """An entry as the `_AllLogs` row Log Analytics shows for it (`_ANALYTICS_COLUMNS`)."""
    http = entry.get("httpRequest")
    resource = entry.get("resource") or {}
    return (
        entry["timestamp"],
        entry.get("receiveTimestamp"),
        entry.get("logName"),
        _log_id(entry.get("logName")),
        entry.get("severity", "DEFAULT"),
        _SEVERITY.get(entry.get("severity", "DEFAULT"), 0),
        entry.get("insertId"),
        {"type": resource.get("type"), "labels": _json(resource.get("labels"))},
        _json(entry.get("labels")),
        _json(entry.get("jsonPayload")),
        _json(entry.get("protoPayload")),
        entry.get("textPayload"),
        _http_analytics(http) if isinstance(http, dict) else None,
        entry.get("trace"),
        entry.get("spanId"),
        entry.get("traceSampled"),
    )


class _Bulk:
    """Rows into one table: an INSERT each, or (bulk) all through one NDJSON file and
    `read_json` with the table's own column types, so both hold the same values."""

    def __init__(
        self, db: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str], bulk: bool
    ) -> None:
        self.db, self.table, self.columns, self.bulk = db, table, columns, bulk
        self.scratch: Any = None

    def __enter__(self) -> _Bulk:
        if self.bulk:
            self.scratch = tempfile.TemporaryDirectory(prefix="fake-bigquery-")
            self.path = Path(self.scratch.name) / "rows.ndjson"
            self.out = self.path.open("w", encoding="utf-8")
        return self

    def add(self, row: tuple[Any, ...]) -> None:
        if not self.bulk:
            self.db.execute(f"INSERT INTO {self.table} VALUES ({_marks(len(row))})", row)
            return
        cells = (
            f"{json.dumps(k)}:{_json_cell(v, t)}"
            for (k, t), v in zip(self.columns.items(), row, strict=True)
        )
        self.out.write("{" + ",".join(cells) + "}\n")

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.bulk:
            return
        self.out.close()
        try:
            if exc is None:
                types = ", ".join(f"{_string(k)}: {_string(t)}" for k, t in self.columns.items())
                self.db.execute(
                    f"INSERT INTO {self.table} SELECT * FROM read_json(?, "
                    f"format = 'newline_delimited', columns = {{{types}}})",
                    [str(self.path)],
                )
        finally:
            self.scratch.cleanup()


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _json_cell(value: Any, kind: str) -> str:
    """A value bound for a column of DuckDB type `kind`, as the JSON `read_json` reads it back:
    a JSON column's text goes in as the JSON it holds, a struct field by field."""
    if value is None:
        return "null"
    if kind == "JSON":
        return str(value)
    if kind.startswith("STRUCT("):
        fields = _struct_fields(kind)
        inner = (f"{json.dumps(k)}:{_json_cell(value.get(k), t)}" for k, t in fields.items())
        return "{" + ",".join(inner) + "}"
    return json.dumps(value)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _day(timestamp: str) -> date:
    return datetime.fromisoformat(timestamp).astimezone(UTC).date()


def _log_id(log_name: Any) -> str | None:
    if not isinstance(log_name, str) or "/logs/" not in log_name:
        return None
    return unquote(log_name.split("/logs/", 1)[1])


def _duration(text: Any) -> dict[str, int] | None:
    """`"0.012345s"` as {seconds, nanos}, exactly."""
    if not isinstance(text, str) or not text.endswith("s"):
        return None
    whole, _, frac = text[:-1].partition(".")
    return {"seconds": int(whole or 0), "nanos": int((frac + "000000000")[:9])}


def _http_analytics(http: dict[str, Any]) -> dict[str, Any]:
    def number(key: str) -> int | None:
        value = http.get(key)
        return int(value) if value is not None else None

    return {
        "request_method": http.get("requestMethod"),
        "request_url": http.get("requestUrl"),
        "request_size": number("requestSize"),
        "status": number("status"),
        "response_size": number("responseSize"),
        "user_agent": http.get("userAgent"),
        "remote_ip": http.get("remoteIp"),
        "protocol": http.get("protocol"),
        "latency": _duration(http.get("latency")),
    }


_LOGENTRY_FIELDS = {
    "logName", "resource", "timestamp", "receiveTimestamp", "severity", "insertId",
    "httpRequest", "labels", "trace", "spanId", "traceSampled", "textPayload", "jsonPayload",
}  # fmt: skip
_HTTP_INTS = {"requestSize", "responseSize", "status"}


def _user_name(name: str) -> str:
    """A user-supplied field name as a sink writes it: lower case, other characters `_`."""
    return re.sub(r"[^a-z0-9_]", "_", name.lower()).lstrip("_")


def _user_record(value: dict[str, Any]) -> dict[str, Any]:
    """A payload as a sink's RECORD: a RECORD needs at least one field, so an empty object has
    no column (it is left out, as an absent field)."""
    record = {}
    for key, item in value.items():
        if isinstance(item, dict):
            item = _user_record(item)
            if not item:
                continue
        record[_user_name(key)] = item
    return record


def sink_kept(entry: dict[str, Any]) -> dict[str, Any]:
    """`entry` as a sink's tables keep it, read back: its payload and labels by their sink names
    (the id keys and `instanceId` by the names normalization reads them by, as the reader
    restores them), without empty objects, and a list as the JSON text this fake keeps it as
    (a real sink writes a REPEATED field; this fake stores it as a STRING)."""
    from fivewhys.logs.bigquery import _restored

    def listless(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: listless(v) for k, v in value.items()}
        return json.dumps(value) if isinstance(value, list) else value

    kept = dict(entry)
    for key in ("jsonPayload", "labels"):
        if isinstance(entry.get(key), dict):
            kept[key] = _restored(listless(_user_record(entry[key])))
    resource = entry.get("resource")
    if isinstance(resource, dict) and isinstance(resource.get("labels"), dict):
        kept["resource"] = {**resource, "labels": _restored(_user_record(resource["labels"]))}
    return {k: v for k, v in kept.items() if v is not None}


def _sink_entry(entry: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in entry.items():
        if key not in _LOGENTRY_FIELDS:
            continue
        if key in ("jsonPayload", "labels"):
            value = _user_record(value)
        elif key == "resource":
            value = {"type": value.get("type"), "labels": _user_record(value.get("labels") or {})}
        elif key == "httpRequest":
            value = {k: int(v) if k in _HTTP_INTS else v for k, v in value.items()}
        row[key] = value
    return row


def _value_type(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, dict) for v in present):
        return _struct_type(present)
    if present and all(isinstance(v, bool) for v in present):
        return "BOOLEAN"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "BIGINT"
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "DOUBLE"
    return "VARCHAR"


def _struct_type(records: list[dict[str, Any]]) -> str:
    keys = list(dict.fromkeys(k for r in records for k in r))
    inner = ", ".join(f"{_q(k)} {_value_type([r.get(k) for r in records])}" for k in keys)
    return f"STRUCT({inner})"


def _record_type(rows: list[dict[str, Any]]) -> dict[str, str]:
    types = {
        "timestamp": "TIMESTAMPTZ",
        "receiveTimestamp": "TIMESTAMPTZ",
        "severity": "VARCHAR",
        "logName": "VARCHAR",
        "insertId": "VARCHAR",
        "trace": "VARCHAR",
        "spanId": "VARCHAR",
        "traceSampled": "BOOLEAN",
        "textPayload": "VARCHAR",
    }
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return {k: types.get(k) or _value_type([r.get(k) for r in rows]) for k in keys}


def _duck_value(value: Any, kind: str) -> Any:
    """A Python value DuckDB binds to `kind` (structs get every field, absent ones null)."""
    if value is None:
        return None
    if kind.startswith("STRUCT("):
        fields = _struct_fields(kind)
        return {k: _duck_value(value.get(k), t) for k, t in fields.items()}
    if kind == "VARCHAR" and not isinstance(value, str):
        return json.dumps(value)
    return value


def _struct_fields(kind: str) -> dict[str, str]:
    """`STRUCT("a" VARCHAR, "b" STRUCT(...))` -> {a: VARCHAR, b: STRUCT(...)}."""
    body, fields, depth, start = kind[len("STRUCT(") : -1], {}, 0, 0
    parts = []
    for i, char in enumerate(body):
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    for part in parts:
        name, _, kind_text = part.strip().partition(" ")
        fields[name.strip('"')] = kind_text
    return fields


def _field(name: str, kind: str) -> dict[str, Any]:
    """A DuckDB column type as a BigQuery schema field."""
    if kind.startswith("STRUCT("):
        inner = [_field(k, t) for k, t in _struct_fields(kind).items()]
        return {"name": name, "type": "RECORD", "mode": "NULLABLE", "fields": inner}
    return {"name": name, "type": _DUCK_TYPES.get(kind, "STRING"), "mode": "NULLABLE"}


# -- parameters and cells ----------------------------------------------------------------------


def _param(parameter: dict[str, Any]) -> Any:
    return _param_value(parameter["parameterType"], parameter.get("parameterValue") or {})


def _param_value(kind: dict[str, Any], value: dict[str, Any]) -> Any:
    if kind["type"] == "ARRAY":
        return [_param_value(kind["arrayType"], v) for v in value.get("arrayValues", [])]
    if kind["type"] == "STRUCT":
        structs = value.get("structValues", {})
        return {
            t["name"]: _param_value(t["type"], structs.get(t["name"], {}))
            for t in kind["structTypes"]
        }
    text = value.get("value")
    if text is None:
        return None
    if kind["type"] == "TIMESTAMP":
        return datetime.fromisoformat(text.replace(" ", "T")).astimezone(UTC)
    if kind["type"] == "INT64":
        return int(text)
    return text


def _cell(value: Any, kind: str, micros: bool) -> Any:
    if value is None:
        return None
    if kind == "TIMESTAMP":
        delta = value.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
        us = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        return str(us) if micros else f"{us / 1e6:.6f}"
    if kind == "BOOLEAN":
        return "true" if value else "false"
    return str(value)


# -- the server ------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else {}
        status, answer = self.server.fake.handle(method, self.path, body)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeBigQuery) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


def serve(fake: FakeBigQuery) -> Iterator[FakeBigQuery]:
    """Run `fake` on a loopback port until the generator is closed."""
    server = _Server(fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        fake.db.close()


@pytest.fixture
def fake_bigquery() -> Iterator[FakeBigQuery]:
    yield from serve(FakeBigQuery())


__all__ = ["FakeBigQuery", "error", "fake_bigquery", "serve"]
