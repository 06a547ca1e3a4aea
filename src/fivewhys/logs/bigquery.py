"""Logs routed to BigQuery (a Log Analytics linked dataset, or a log sink's tables) as a LogFrame:
dry-run-guarded queries, through the real google-cloud-bigquery client.

The first query reads the failures' keyed lines and the lines their rules join by time; when the
analysis above says some windows must be read whole (failures no rule explains list any line of
their window), a second query reads every line of those windows.

The layout is told by the dataset's tables (`tables.list`; a sink table's columns by
`tables.get`). A dry run says the bytes the query will scan; above `max_bytes` the read is
refused before anything is billed, and the query itself runs with `maximum_bytes_billed`. The
rows are turned back into LogEntries (camelCase, the field names a sink lower-cased restored)
and normalized exactly as files are, so the report is the one the same entries as files give.
The client library is imported only here, only when BigQuery is asked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fivewhys.errors import FivewhysError
from fivewhys.ids import DEFAULT_PATTERNS, PROPERTY_KEYS, IdPatterns
from fivewhys.logs.bigquery_sql import (
    ALL_LOGS,
    SHARD,
    SINK_TABLES,
    Layout,
    LayoutKind,
    Query,
    SinkTable,
    TimeLines,
    build_query,
)
from fivewhys.logs.entry import LogBatch, normalize_entries
from fivewhys.logs.files import LogRead, collect
from fivewhys.model import BigQueryScan, PulledWindow, PullInfo, Window, WindowStatus


class BigQueryError(FivewhysError):
    """Nothing could be read from BigQuery (dataset, permission, quota, query, limit): one line."""


GIB = 1024**3
DEFAULT_MAX_BYTES = 10 * GIB
#: label keys a sink lower-cases, and the names normalization reads them by
_CANONICAL = {
    name.lower(): name
    for name in ("instanceId", *(n for names in PROPERTY_KEYS.values() for n in names))
}
_LAYOUT_WORDS = {
    "log-analytics": "Log Analytics linked dataset",
    "sink-sharded": "log sink, date-sharded tables",
    "sink-partitioned": "log sink, partitioned tables",
}


@dataclass(frozen=True)
class BigQuerySource:
    """Which dataset to query (its project runs the job), for which services, how far."""

    project: str
    dataset: str
    services: tuple[str, ...] = ()
    #: None for Google's endpoint
    endpoint: str | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    progress: Callable[[str], None] | None = None


def bytes_text(count: int) -> str:
    """`1.5 GiB`, `830 KiB`, `12 B`: bytes as a reader reads them."""
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def plan(
    source: BigQuerySource,
    windows: Sequence[Window],
    keys: Sequence[str],
    time: TimeLines | None = None,
) -> tuple[Layout, Query]:
    """The dataset's layout and the first query for `windows` (coalesced, non-empty)."""
    with _Connection(source) as connection:
        layout = connection.layout()
        return layout, build_query(layout, windows, keys, source.services, time)


def read_bigquery(
    source: BigQuerySource,
    windows: Sequence[Window],
    keys: Sequence[str],
    *,
    time: TimeLines | None = None,
    whole: Callable[[LogRead], Sequence[Window]] | None = None,
    id_patterns: IdPatterns = DEFAULT_PATTERNS,
) -> LogRead:
    """The candidate entries of `windows` (coalesced) as a LogRead whose pull records the query,
    the layout and the bytes scanned; then every entry of the windows `whole` names, judged on
    what the first query gave. Raises `BigQueryError` (one line) when nothing can be read."""
    say = source.progress or _quiet
    label = f"bigquery:{source.project}.{source.dataset}"
    if not windows:
        return collect([], [label])
    with _Connection(source) as connection:
        layout = connection.layout()
        queries = [build_query(layout, windows, keys, source.services, time)]
        rows: list[dict[str, Any]] = []
        scanned, broke_off = _guarded(connection, queries[0], rows, say)
        again = whole(_read(rows, layout, label, id_patterns)) if whole and not broke_off else ()
        if again:
            every = TimeLines(bands=tuple(again), tests=None)
            queries.append(build_query(layout, again, [], source.services, every))
            more: list[dict[str, Any]] = []
            what = f"a second query (every line of {len(again)} window(s) left unexplained)"
            more_scanned, broke_off = _guarded(connection, queries[1], more, say, what)
            scanned += more_scanned
            rows = [r for r in rows if _within(r["timestamp"], again) is None] + more
            rows.sort(key=lambda r: (r["timestamp"], r["insert_id"] is not None, r["insert_id"]))
    status: WindowStatus = "complete" if broke_off is None else "partial"
    reason = (
        None if broke_off is None else f"the results broke off after {len(rows)} rows: {broke_off}"
    )
    pulled_at = datetime.now(UTC)
    counts = _per_window(rows, windows)
    tables = tuple(dict.fromkeys(t for q in queries for t in q.tables))
    pull = PullInfo(
        project=source.project,
        services=source.services,
        api_endpoint=source.endpoint,
        filter="\n;\n".join(q.sql for q in queries),
        pulled_at=pulled_at,
        windows=tuple(
            PulledWindow(
                start=w.start,
                end=w.end,
                status=status,
                reason=reason,
                entries=n,
                pulled_at=pulled_at,
            )
            for w, n in zip(windows, counts, strict=True)
        ),
        bigquery=BigQueryScan(
            dataset=f"{source.project}.{source.dataset}",
            layout=_LAYOUT_WORDS[layout.kind],
            tables=tables,
            bytes_scanned=scanned,
            rows=len(rows),
            queries=len(queries),
        ),
    )
    say(
        f"BigQuery: {len(rows)} rows, {bytes_text(scanned)} scanned"
        + (f" in {len(queries)} queries" if len(queries) > 1 else "")
        + (f" (partial: {broke_off})" if broke_off else "")
    )
    return _read(rows, layout, label, id_patterns, pull)


def _guarded(
    connection: _Connection,
    query: Query,
    rows: list[dict[str, Any]],
    say: Callable[[str], None],
    what: str = "the query",
) -> tuple[int, str | None]:
    """Dry-run `query`, refuse it above `max_bytes`, run it into `rows`: (bytes, why it broke
    off)."""
    source = connection.source
    estimate = connection.dry_run(query)
    say(
        f"BigQuery {source.project}.{source.dataset}: {what} will scan "
        f"{bytes_text(estimate)} ({_LAYOUT_WORDS[connection.kind]}, {len(query.tables)} table(s))"
    )
    if estimate > source.max_bytes:
        raise BigQueryError(
            f"the BigQuery query would scan {bytes_text(estimate)}, more than --max-bytes "
            f"{bytes_text(source.max_bytes)}: raise --max-bytes, or narrow the windows"
        )
    return connection.run(query, rows)


def _read(
    rows: Sequence[Mapping[str, Any]],
    layout: Layout,
    label: str,
    id_patterns: IdPatterns,
    pull: PullInfo | None = None,
) -> LogRead:
    batch = LogBatch(label=label)
    entries = ((f"{label} row {n}", _entry(row, layout)) for n, row in enumerate(rows, 1))
    normalize_entries(entries, id_patterns=id_patterns, batch=batch)
    return collect([batch], [label], pulls=[pull] if pull else [])


def _within(moment: datetime, windows: Sequence[Window]) -> int | None:
    """The index of the window holding `moment` (ends inclusive), None outside every one."""
    for i, window in enumerate(windows):
        if window.start <= moment <= window.end:
            return i
    return None


def _quiet(line: str) -> None:
    """Progress goes nowhere unless asked for."""


def _per_window(rows: Sequence[Mapping[str, Any]], windows: Sequence[Window]) -> list[int]:
    counts = [0] * len(windows)
    for row in rows:
        index = _within(row["timestamp"], windows)
        if index is not None:
            counts[index] += 1
    return counts


# -- rows back to LogEntries ---------------------------------------------------------------


def _entry(row: Mapping[str, Any], layout: Layout) -> dict[str, Any]:
    """The LogEntry (camelCase JSON) a row was written from, as far as the columns tell it."""
    sink = layout.kind != "log-analytics"
    entry: dict[str, Any] = {
        "timestamp": row["timestamp"],
        "severity": row["severity"],
        "logName": row["log_name"],
        "insertId": row["insert_id"],
        "textPayload": row["text_payload"],
        "jsonPayload": _json(row["json_payload"], sink),
        "protoPayload": _json(row["proto_payload"], sink),
        "labels": _json(row["labels"], sink),
        "resource": {"type": "cloud_run_revision", "labels": _json(row["resource_labels"], sink)},
        "trace": row["trace"],
        "spanId": row["span_id"],
    }
    latency: Any = row["latency_text"]
    if row["latency_seconds"] is not None or row["latency_nanos"] is not None:
        latency = {"seconds": row["latency_seconds"] or 0, "nanos": row["latency_nanos"] or 0}
    http = {
        "requestMethod": row["request_method"],
        "requestUrl": row["request_url"],
        "status": row["status"],
        "userAgent": row["user_agent"],
        "latency": latency,
    }
    http = {k: v for k, v in http.items() if v is not None}
    if http:
        entry["httpRequest"] = http
    return {k: v for k, v in entry.items() if v is not None}


def _json(text: Any, sink: bool) -> Any:
    """A JSON column's value; a sink's RECORD has every field of its table (absent ones null:
    dropped) and lower-cased names (the id keys get their names back)."""
    if text is None:
        return None
    value = json.loads(text) if isinstance(text, str) else text
    return _restored(value) if sink else value


def _restored(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {_CANONICAL.get(k, k): _restored(v) for k, v in value.items() if v is not None} or None


# -- the client ------------------------------------------------------------------------------


class _Connection:
    """The google-cloud-bigquery client for one read; its errors become one-line BigQueryErrors."""

    def __init__(self, source: BigQuerySource) -> None:
        self.source = source
        self.client: Any = None
        self.kind: LayoutKind = "log-analytics"

    def __enter__(self) -> _Connection:
        # imported here: the client library is slow to import and only --bigquery needs it
        from google.api_core.client_options import ClientOptions
        from google.cloud import bigquery

        self.bigquery = bigquery
        options = ClientOptions(api_endpoint=self.source.endpoint) if self.source.endpoint else None
        with self._errors():
            if self.source.endpoint and self.source.endpoint.startswith("http://"):
                from google.auth.credentials import AnonymousCredentials

                self.client = bigquery.Client(
                    project=self.source.project,
                    credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                    client_options=options,
                )
            else:
                self.client = bigquery.Client(project=self.source.project, client_options=options)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()

    def layout(self) -> Layout:
        """How the dataset holds the logs, told by its tables."""
        source = self.source
        dataset = f"{source.project}.{source.dataset}"
        with self._errors():
            listed = list(self.client.list_tables(dataset))
        names = {t.table_id: t for t in listed}
        if ALL_LOGS in names:
            self.kind = "log-analytics"
            return Layout(source.project, source.dataset, "log-analytics")
        sharded = [n for n in names if (m := SHARD.match(n)) and m["base"] in SINK_TABLES]
        plain = [n for n in names if n in SINK_TABLES]
        if not sharded and not plain:
            raise BigQueryError(
                f"BigQuery dataset {dataset} holds neither a Log Analytics view {ALL_LOGS} nor "
                "the tables of a Cloud Run log sink (run_googleapis_com_*): check --bigquery"
            )
        kind: LayoutKind = "sink-sharded" if sharded else "sink-partitioned"
        self.kind = kind
        tables = []
        for name in sorted(sharded or plain):
            base = m["base"] if (m := SHARD.match(name)) and sharded else name
            with self._errors():
                schema = self.client.get_table(f"{dataset}.{name}").schema
            tables.append(SinkTable(name, SINK_TABLES[base], frozenset(_paths(schema))))
        return Layout(source.project, source.dataset, kind, tuple(tables))

    def _config(self, query: Query, **options: Any) -> Any:
        bq = self.bigquery
        params: list[Any] = []
        for p in query.params:
            if p.type in ("TIMESTAMP", "STRING"):
                params.append(bq.ScalarQueryParameter(p.name, p.type, p.value))
            elif p.type in ("ARRAY<STRING>", "ARRAY<INT64>"):
                params.append(bq.ArrayQueryParameter(p.name, p.type[6:-1], p.value))
            else:
                structs = [
                    bq.StructQueryParameter(
                        None,
                        bq.ScalarQueryParameter("start_at", "TIMESTAMP", start),
                        bq.ScalarQueryParameter("end_at", "TIMESTAMP", end),
                    )
                    for start, end in p.value
                ]
                params.append(bq.ArrayQueryParameter(p.name, "STRUCT", structs))
        return bq.QueryJobConfig(query_parameters=params, use_legacy_sql=False, **options)

    def dry_run(self, query: Query) -> int:
        """The bytes the query will scan."""
        config = self._config(query, dry_run=True, use_query_cache=False)
        with self._errors():
            job = self.client.query(query.sql, job_config=config)
        return int(job.total_bytes_processed or 0)

    def run(self, query: Query, rows: list[dict[str, Any]]) -> tuple[int, str | None]:
        """Run the query, appending its rows to `rows`; (bytes scanned, why the rows broke off)."""
        config = self._config(query, maximum_bytes_billed=self.source.max_bytes)
        retry = self.bigquery.DEFAULT_RETRY.with_deadline(60)
        with self._errors():
            job = self.client.query(query.sql, job_config=config, retry=retry)
            result = job.result(retry=retry)
        scanned = int(job.total_bytes_processed or 0)
        try:
            rows.extend(_rows(result))  # what came before a broken page stays in `rows`
        except Exception as exc:  # a page that cannot be read: what came is reported as partial
            message = self._message(exc)
            if message is None:
                raise
            return scanned, message
        return scanned, None

    def _errors(self) -> _Errors:
        return _Errors(self)

    def _message(self, exc: BaseException) -> str | None:
        """One line for what the service or the network said; None for a bug of ours."""
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth
        from requests import RequestException

        if isinstance(exc, api.GoogleAPICallError):
            reasons = {e.get("reason") for e in exc.errors or [] if isinstance(e, dict)}
            text = exc.message.splitlines()[0] if exc.message else type(exc).__name__
            text = text.split(": ", 1)[1] if text.startswith(("GET ", "POST ")) else text
            return f"{exc.code} {'/'.join(sorted(r for r in reasons if r)) or exc.reason}: {text}"
        if isinstance(exc, auth.DefaultCredentialsError):
            return (
                "no Google Cloud credentials found: run `gcloud auth application-default login` "
                "(or set GOOGLE_APPLICATION_CREDENTIALS)"
            )
        if isinstance(exc, auth.GoogleAuthError | RequestException | api.RetryError):
            return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(
                ": "
            )
        return None


class _Errors:
    """Within it, an error of the client becomes an `BigQueryError` saying what to check."""

    def __init__(self, connection: _Connection) -> None:
        self.connection = connection

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, BigQueryError):
            return
        message = self.connection._message(exc)
        if message is None:
            return
        source = self.connection.source
        where = f"{source.project}.{source.dataset}"
        hint = ""
        if message.startswith("404"):
            hint = f" (does dataset {where} exist, in project {source.project}?)"
        elif "quota" in message.lower() or "rateLimitExceeded" in message:
            hint = " (BigQuery quota: try again later, or ask for a higher quota)"
        elif message.startswith("403"):
            hint = (
                f" (the account needs roles/bigquery.jobUser in {source.project} and "
                f"roles/bigquery.dataViewer on {where})"
            )
        endpoint = f" at {source.endpoint}" if source.endpoint else ""
        raise BigQueryError(f"BigQuery{endpoint}: {message}{hint}") from None


def _paths(schema: Iterable[Any], prefix: str = "") -> Iterator[str]:
    """Every column of a table schema by its dotted path (`httpRequest.status`)."""
    for field in schema:
        path = f"{prefix}{field.name}"
        yield path
        if field.field_type in ("RECORD", "STRUCT"):
            yield from _paths(field.fields, f"{path}.")


def _rows(result: Any) -> Iterator[dict[str, Any]]:
    """The result's rows as dicts: through Arrow when pyarrow is installed (never the storage API:
    it would go to Google whatever endpoint is set), else row by row."""
    try:
        import pyarrow  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        for row in result:
            yield dict(row.items())
        return
    table = result.to_arrow(create_bqstorage_client=False)
    for row in table.to_pylist():
        moment = row["timestamp"]
        if isinstance(moment, datetime) and moment.tzinfo is None:
            row["timestamp"] = moment.replace(tzinfo=UTC)
        yield row
