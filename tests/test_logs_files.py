"""The log-file reader, first on real Cloud Run captures (data/logs/real/PROVENANCE.md), then on
the input problems a user can hit (missing files, globs, broken lines, malformed arrays)."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from fivewhys.errors import InputError
from fivewhys.ids import mask
from fivewhys.logs import entry as entry_module
from fivewhys.logs import files as files_module
from fivewhys.logs.entry import LogBatch, build_frame, normalize_entries
from fivewhys.logs.files import LogRead, read_log_files
from fivewhys.logs.frame import LOGFRAME_SCHEMA, fill_templates

DATA = Path(__file__).parent / "data" / "logs"
REAL = DATA / "real" / "cloudrun-entries.ndjson"
CHAIN_ARRAY = DATA / "startup-chain.json"
CHAIN_NDJSON = DATA / "startup-chain.ndjson"
BROKEN = DATA / "broken-line.ndjson"
MALFORMED = DATA / "malformed.json"


@pytest.fixture(scope="module")
def real() -> LogRead:
    return read_log_files([str(REAL)])


def by_line(read: LogRead) -> dict[int, dict[str, Any]]:
    """Rows of an NDJSON read, keyed by the line they came from."""
    return {int(row["source"].rsplit(":", 1)[1]): row for row in read.frame.iter_rows(named=True)}


def utc(
    year: int, month: int, day: int, hour: int, minute: int, second: int, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


# --- the real capture ---------------------------------------------------------------------------


def test_real_every_line_is_a_row_or_a_counted_skip(real: LogRead) -> None:
    lines = REAL.read_text().count("\n")
    assert lines == 189
    assert real.frame.height == 189
    assert real.frame.height + sum(real.skipped.values()) == lines
    assert real.skipped == {}
    assert real.warnings == []
    assert real.sources == [str(REAL)]


def test_real_frame_has_the_logframe_schema_sorted(real: LogRead) -> None:
    assert real.frame.schema == pl.Schema(LOGFRAME_SCHEMA)
    assert real.frame["insert_id"].n_unique() == 189
    assert real.frame.equals(real.frame.sort("timestamp", "insert_id"))


# README table of the capture: line range -> the kinds found in it
KINDS_BY_RANGE = {
    (1, 20): {"request": 17, "stderr": 3},  # gcloud capture: /ws 500s + 'coroutine' errors
    (21, 30): {"stdout": 7, "stderr": 3},  # uvicorn/gunicorn textPayload access lines
    (31, 70): {"stderr": 40},  # structured stderr
    (71, 110): {"stderr": 25, "request": 10, "stdout": 5},
    (111, 155): {"stdout": 4, "stderr": 29, "system": 1, "request": 11},  # startup failure
    (156, 165): {"other": 10},  # collector: no logName, no httpRequest
    (166, 169): {"other": 2, "system": 1, "request": 1},  # snake_case, no logName
    (170, 179): {"stdout": 2, "stderr": 4, "request": 4},  # loguru ANSI lines + requests
    (180, 189): {"stderr": 8, "request": 2},
}


@pytest.mark.parametrize(("first", "last"), list(KINDS_BY_RANGE))
def test_real_kinds_per_line_range(real: LogRead, first: int, last: int) -> None:
    rows = by_line(real)
    kinds = Counter(rows[n]["kind"] for n in range(first, last + 1))
    assert kinds == KINDS_BY_RANGE[(first, last)]


def test_real_kind_totals_and_mappings(real: LogRead) -> None:
    kinds = dict(real.frame.group_by("kind").len().iter_rows())
    assert kinds == {"request": 45, "stderr": 112, "stdout": 18, "system": 2, "other": 12}
    assert real.mapped == {
        "no severity (DEFAULT)": 38,
        "access-log text (http_method/path/status parsed)": 23,
        "'connection rejected (NNN ...)' text (http_status parsed)": 3,
        "null fields ignored": 13,
        "timestamp with UTC offset (converted to UTC)": 14,
        "no logName (other)": 12,
        "snake_case re-serialization": 4,
        "no logName (system: Cloud Run platform message)": 1,
        "httpRequest {method, url} re-serialization": 1,
        "no logName (request: has httpRequest)": 1,
        "ANSI colour codes stripped": 4,
    }


def test_real_snake_case_entries(real: LogRead) -> None:
    rows = by_line(real)
    assert rows[166]["insert_id"] == "68c8be11000959c0116a9b88"
    assert rows[166]["message"].startswith("Traceback (most recent call last):\n  File ")
    assert rows[168]["message"] == (
        "Creating enhanced WebSocket exclusion middleware inline (Issue #449 fallback)"
    )
    request = rows[169]
    assert (request["kind"], request["http_method"], request["http_path"]) == (
        "request",
        "GET",
        "/",
    )
    assert (request["http_status"], request["user_agent"]) == (503, "python-requests/2.32.5")
    assert request["http_latency_s"] == pytest.approx(9.649708414)
    assert request["span_id"] == "b93229b178ff9ecd"
    assert request["trace"] == "c6443dc6d78ec3cddf8681410ec04faf"
    assert request["log_name"] is None


def test_real_ansi_codes_are_stripped_from_message_not_from_the_file(real: LogRead) -> None:
    rows = by_line(real)
    assert rows[172]["message"] == (
        "2025-08-28 00:23:43.240 | INFO     | "
        "netra_backend.app.middleware.security_response_middleware:dispatch:47 | "
        "Response for /health: status=200, is_api=False, has_auth=False"
    )
    lines = REAL.read_text().splitlines()
    templates = by_line(LogRead(fill_templates(real.frame), [], {}, [], {}))
    for n in range(172, 176):
        assert "\x1b" not in rows[n]["message"]
        assert "\x1b" not in templates[n]["template"]
        assert "\\u001b[32m" in lines[n - 1]  # `source` names the line that still has them
        assert rows[n]["severity"] == "DEFAULT"


def test_real_offset_timestamps_become_the_right_utc_instant(real: LogRead) -> None:
    rows = by_line(real)
    # "timestamp": "2025-09-15T20:03:08.710120+00:00" (collector re-serialization)
    assert rows[156]["timestamp"] == utc(2025, 9, 15, 20, 3, 8, 710120)
    # "timestamp": "2025-09-16T01:32:02.118391+00:00" (snake_case)
    assert rows[167]["timestamp"] == utc(2025, 9, 16, 1, 32, 2, 118391)
    # nanoseconds in the Z form are truncated: "2025-09-07T15:42:02.878579Z" stays exact
    assert rows[1]["timestamp"] == utc(2025, 9, 7, 15, 42, 2, 878579)
    assert rows[1]["timestamp"].tzinfo is not None


def test_real_uvicorn_text_lines_carry_http_fields(real: LogRead) -> None:
    rows = by_line(real)
    for n in (22, 23, 24):  # [2025-09-07 15:39:4x +0000] [15] [INFO] 169...: - "WebSocket /ws" 403
        row = rows[n]
        assert (row["kind"], row["http_method"], row["http_path"], row["http_status"]) == (
            "stderr",
            "WebSocket",
            "/ws",
            403,
        )
        assert row["end_time"] == row["timestamp"]
    assert rows[24]["timestamp"] == utc(2025, 9, 7, 15, 39, 41, 957122)
    health = rows[25]  # 169.254.169.126:50088 - "GET /health HTTP/1.1" 200
    assert (health["kind"], health["http_method"], health["http_path"]) == (
        "stdout",
        "GET",
        "/health",
    )
    assert health["http_status"] == 200
    rejected = rows[74]  # [INFO] connection rejected (403 Forbidden)
    assert (rejected["http_status"], rejected["http_method"], rejected["http_path"]) == (
        403,
        None,
        None,
    )
    # a JSON payload whose message is an access line is parsed the same way
    assert (rows[180]["http_method"], rows[180]["http_path"]) == ("GET", "/api/mcp/servers")


def test_real_container_exit_is_a_system_line(real: LogRead) -> None:
    rows = by_line(real)
    exits = real.frame.filter(pl.col("message") == "Container called exit(3).")
    assert sorted(exits["source"].str.extract(r":(\d+)$").cast(int).to_list()) == [144, 167]
    assert exits["kind"].to_list() == ["system", "system"]
    assert rows[144]["log_name"] == "projects/netra-staging/logs/run.googleapis.com/varlog/system"
    assert rows[144]["severity"] == "WARNING"
    assert rows[144]["revision"] == "netra-backend-staging-00742-b95"
    assert rows[144]["instance_id"].startswith("0069c7a98824795ed4cca769")


def test_real_discovery_request_503(real: LogRead) -> None:
    row = by_line(real)[154]
    assert (row["kind"], row["http_method"], row["http_path"], row["http_status"]) == (
        "request",
        "GET",
        "/api/discovery/services",
        503,
    )
    assert row["service"] == "netra-backend-staging"
    assert row["message"].startswith("The request failed because either the HTTP response")
    assert row["end_time"] - row["timestamp"] == timedelta(
        microseconds=round(row["http_latency_s"] * 1e6)
    )
    assert row["end_time"] > row["timestamp"]


def test_real_request_summaries(real: LogRead) -> None:
    rows = by_line(real)
    assert rows[8]["message"] == "GET /ws 500 0.006s Netra-E2E-Tests/1.0"
    assert rows[8]["template"] is None  # masked when a failure may cite the line
    assert fill_templates(real.frame.filter(pl.col("insert_id") == rows[8]["insert_id"]))[
        "template"
    ].to_list() == [mask(rows[8]["message"])]
    assert rows[95]["message"] == "GET /ws 403 0.003s Netra-E2E-Tests/1.0"
    assert rows[95]["severity"] == "WARNING"


def test_real_traces_are_bare_32_hex(real: LogRead) -> None:
    traces = real.frame["trace"].drop_nulls()
    assert traces.len() == 45
    assert traces.str.contains(r"^[0-9a-f]{32}$").all()
    assert by_line(real)[1]["trace"] == "22c3c90f0c39be5b14b70e8a5e062e9d"
    # only request logs have a trace in this capture
    assert real.frame.filter(pl.col("trace").is_not_null())["kind"].unique().to_list() == [
        "request"
    ]


def test_real_application_lines_have_no_connection_or_user_id(real: LogRead) -> None:
    assert real.frame["connection_id"].null_count() == 189
    assert real.frame["user_id"].null_count() == 189


def test_real_structured_stderr_message_and_template(real: LogRead) -> None:
    row = by_line(real)[7]
    assert row["message"] == "WebSocket error: 'coroutine' object has no attribute 'get'"
    assert row["severity"] == "ERROR"
    filled = fill_templates(real.frame.filter(pl.col("insert_id") == row["insert_id"]))
    assert filled["template"].to_list() == [row["message"]]  # nothing in it to mask
    # `raw` keeps where the entry came from; `source` says where the rest of it is
    assert json.loads(row["raw"]) == {
        "logName": "projects/netra-staging/logs/run.googleapis.com%2Fstderr",
        "resource": {"labels": {"project_id": "netra-staging"}},
    }
    assert row["source"] == f"{REAL}:7"


# --- formats: gcloud array vs NDJSON, globs, duplicates -----------------------------------------


def test_gcloud_array_and_ndjson_give_identical_frames() -> None:
    array = read_log_files([str(CHAIN_ARRAY)])
    ndjson = read_log_files([str(CHAIN_NDJSON)])
    assert array.frame.height == ndjson.frame.height == 45
    assert array.frame.drop("source").equals(ndjson.frame.drop("source"))
    assert array.mapped == ndjson.mapped
    # the array is newest first: its last element is the oldest row
    assert array.frame["source"][0] == f"{CHAIN_ARRAY}#[45]"
    assert ndjson.frame["source"][0] == f"{CHAIN_NDJSON}:1"
    assert array.frame["source"][-1] == f"{CHAIN_ARRAY}#[1]"


def test_glob_reads_both_files_sorted_and_dedupes_across_them() -> None:
    read = read_log_files([str(DATA / "startup-chain.*")])
    assert read.sources == [str(CHAIN_ARRAY), str(CHAIN_NDJSON)]
    assert read.frame.height == 45
    assert read.skipped == {"duplicate insertId": 45}
    # the first source read is kept
    assert read.frame["source"].str.starts_with(f"{CHAIN_ARRAY}#[").all()
    assert read.warnings == [
        "45 entries with an insertId already read were dropped (the first source read is kept)"
    ]


def test_same_file_twice_is_read_once() -> None:
    read = read_log_files([str(CHAIN_NDJSON), str(DATA / "startup-*.ndjson")])
    assert read.sources == [str(CHAIN_NDJSON)]
    assert read.skipped == {}


def test_dedupe_keeps_the_first_source_in_argument_order(tmp_path: Path) -> None:
    sink = tmp_path / "sink.ndjson"
    shutil.copy(CHAIN_NDJSON, sink)
    read = read_log_files([str(sink), str(CHAIN_ARRAY)])
    assert read.frame["source"].str.starts_with(f"{sink}:").all()
    assert read.frame.drop("source").equals(read_log_files([str(CHAIN_ARRAY)]).frame.drop("source"))


# --- input problems -----------------------------------------------------------------------------


def test_broken_ndjson_line_is_skipped_with_exact_warning() -> None:
    read = read_log_files([str(BROKEN)])
    assert read.frame.height == 10
    assert read.skipped == {"invalid JSON": 1}
    assert read.warnings == [
        f"{BROKEN}:5: skipped: invalid JSON (Unterminated string starting at: column 122)"
    ]
    lines = sorted(int(s.rsplit(":", 1)[1]) for s in read.frame["source"])
    assert lines == [1, 2, 3, 4, 6, 7, 8, 9, 10, 11]


def test_malformed_array_is_an_input_error_with_line_and_column() -> None:
    with pytest.raises(InputError) as caught:
        read_log_files([str(MALFORMED)])
    assert (caught.value.line, caught.value.column) == (3, 3)
    assert str(caught.value) == f"{MALFORMED}:3:3: invalid JSON array: Expecting ',' delimiter"


def test_missing_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.ndjson")
    with pytest.raises(InputError) as caught:
        read_log_files([str(CHAIN_NDJSON), missing])
    assert str(caught.value) == f"{missing}: no such file"


def test_glob_matching_nothing(tmp_path: Path) -> None:
    pattern = str(tmp_path / "*.ndjson")
    with pytest.raises(InputError) as caught:
        read_log_files([pattern])
    assert str(caught.value) == f"{pattern}: no such file"


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read_log_files([str(tmp_path)])
    assert str(caught.value) == f"{tmp_path}: is a directory, not a log file"


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.ndjson"
    path.write_text("{}\n")

    def denied(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(path))

    # (a mode-000 file would do, but not when the tests run as root)
    monkeypatch.setattr(files_module, "open", denied, raising=False)
    with pytest.raises(InputError) as caught:
        read_log_files([str(path)])
    assert str(caught.value) == f"{path}: cannot read: Permission denied"


def test_ndjson_without_any_valid_line(tmp_path: Path) -> None:
    path = tmp_path / "junk.ndjson"
    path.write_text('{"a": \n"just a string"\n')
    with pytest.raises(InputError) as caught:
        read_log_files([str(path)])
    assert str(caught.value) == f"{path}: no line is a JSON log entry (expected NDJSON)"


def test_not_json_at_all(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("\n\nINFO started\n")
    with pytest.raises(InputError) as caught:
        read_log_files([str(path)])
    assert str(caught.value).startswith(f"{path}:3: not a log file: expected a JSON array")


def test_empty_file_and_empty_array_give_an_empty_frame_with_a_warning(tmp_path: Path) -> None:
    empty = tmp_path / "empty.ndjson"
    empty.write_text("\n  \n")
    array = tmp_path / "none.json"
    array.write_text("[]\n")
    read = read_log_files([str(empty), str(array)])
    assert read.frame.height == 0
    assert read.frame.schema == pl.Schema(LOGFRAME_SCHEMA)
    assert read.warnings == [
        f"{empty}: empty file, no log entries",
        f"{array}: empty JSON array, no log entries",
    ]


def test_array_elements_that_are_not_objects_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "mixed.json"
    good = json.loads(CHAIN_NDJSON.read_text().splitlines()[0])
    path.write_text(json.dumps([good, "text", 3, None]))
    read = read_log_files([str(path)])
    assert read.frame.height == 1
    assert read.skipped == {"not a JSON object": 3}
    assert read.warnings == [
        f"{path}#[2]: skipped: not a JSON object (str)",
        f"{path}#[3]: skipped: not a JSON object (int)",
        f"{path}#[4]: skipped: not a JSON object (NoneType)",
    ]


def test_warnings_are_capped_per_file(tmp_path: Path) -> None:
    path = tmp_path / "many.ndjson"
    good = CHAIN_NDJSON.read_text().splitlines()[0]
    path.write_text(good + "\n" + "{oops\n" * 25)
    read = read_log_files([str(path)])
    assert read.skipped == {"invalid JSON": 25}
    assert len(read.warnings) == 21
    assert read.warnings[0] == (
        f"{path}:2: skipped: invalid JSON (Expecting property name enclosed in double quotes: "
        "column 2)"
    )
    assert read.warnings[-1] == f"{path}: ... and 5 more"


def test_no_paths_given() -> None:
    with pytest.raises(InputError, match="no log file given"):
        read_log_files([])


# --- normalize_entries on hand-made shapes (no files involved) ----------------------------------

BASE = {
    "insertId": "x1",
    "timestamp": "2025-09-07T15:42:02.123456789Z",
    "logName": "projects/p/logs/run.googleapis.com%2Fstderr",
    "resource": {"labels": {"service_name": "svc", "revision_name": "svc-00001-abc"}},
    "labels": {"instanceId": "inst-1"},
}


def one(entry: dict[str, Any]) -> dict[str, Any]:
    """The single row of one entry (asserts it was not skipped)."""
    batch = normalize_entries([("t:1", entry)])
    frame, _ = build_frame([batch])
    assert frame.height == 1, batch.warnings
    return frame.row(0, named=True)


def test_timestamps_nanoseconds_offsets_and_spaces() -> None:
    assert one(BASE)["timestamp"] == utc(2025, 9, 7, 15, 42, 2, 123456)
    assert one({**BASE, "timestamp": "2025-09-07T21:12:02+05:30"})["timestamp"] == utc(
        2025, 9, 7, 15, 42, 2
    )
    assert one({**BASE, "timestamp": "2025-09-07 08:42:02.5-07:00"})["timestamp"] == utc(
        2025, 9, 7, 15, 42, 2, 500000
    )
    assert one({**BASE, "timestamp": {"seconds": 1757259722, "nanos": 123456789}})[
        "timestamp"
    ] == utc(2025, 9, 7, 15, 42, 2, 123456)


@pytest.mark.parametrize(
    ("timestamp", "reason", "detail"),
    [
        (None, "missing timestamp", "missing timestamp"),
        ("yesterday", "invalid timestamp", "invalid timestamp 'yesterday'"),
        ("2025-02-30T00:00:00Z", "invalid timestamp", "invalid timestamp '2025-02-30T00:00:00Z'"),
        ("2025-09-07T15:42:02", "invalid timestamp", "invalid timestamp '2025-09-07T15:42:02'"),
        (1757259722, "invalid timestamp", "invalid timestamp 1757259722"),
    ],
)
def test_bad_timestamps_are_counted_skips(timestamp: Any, reason: str, detail: str) -> None:
    entry = {**BASE, "timestamp": timestamp}
    if timestamp is None:
        del entry["timestamp"]
    batch = normalize_entries([("f:7", entry), ("f:8", BASE)])
    assert len(batch) == 1
    assert batch.skipped == {reason: 1}
    assert batch.warnings == [f"f:7: skipped: {detail}"]


def test_kinds_from_log_names() -> None:
    def kind(log_name: str | None, **extra: Any) -> str:
        entry = {**BASE, "logName": log_name, **extra}
        return str(one(entry)["kind"])

    assert kind("projects/p/logs/run.googleapis.com%2Frequests") == "request"
    assert kind("projects/p/logs/run.googleapis.com/stdout") == "stdout"
    assert kind("projects/p/logs/varlog%2Fsystem") == "system"
    assert kind("projects/p/logs/cloudaudit.googleapis.com%2Factivity") == "audit"
    assert kind("projects/p/logs/my-app") == "other"
    assert kind(None) == "other"
    assert kind(None, httpRequest={"requestMethod": "GET", "status": "404"}) == "request"


def test_json_payload_message_traceback_and_fallback() -> None:
    row = one({**BASE, "jsonPayload": {"msg": "boom", "exc_info": "Traceback ...\nValueError: x"}})
    assert row["message"] == "boom\nTraceback ...\nValueError: x"
    row = one({**BASE, "jsonPayload": {"message": "boom", "context": {"exc_info": True}}})
    assert row["message"] == "boom"
    row = one({**BASE, "jsonPayload": {"event": "tick", "n": 3, "timestamp": "t"}})
    assert row["message"] == '{"event":"tick","n":3}'


def test_ids_from_fields_labels_and_text() -> None:
    row = one({**BASE, "jsonPayload": {"message": "hi", "context": {"connectionId": "ws-abc123"}}})
    assert (row["connection_id"], row["user_id"]) == ("ws-abc123", None)
    row = one({**BASE, "labels": {"user_id": "u-777"}, "textPayload": "connection_id=ws_9f8e7d"})
    assert (row["connection_id"], row["user_id"]) == ("ws_9f8e7d", "u-777")
    # a logger printing "no id" does not make an id everyone shares
    row = one({**BASE, "textPayload": "closed user_id=None connection_id=null"})
    assert (row["connection_id"], row["user_id"]) == (None, None)
    row = one(
        {
            **BASE,
            "jsonPayload": {
                "message": "x",
                "logging.googleapis.com/trace": "projects/p/"
                "traces/0123456789ABCDEF0123456789abcdef",
            },
        }
    )
    assert row["trace"] == "0123456789abcdef0123456789abcdef"


def test_http_fields_strings_and_odd_latencies() -> None:
    http = {"requestMethod": "GET", "requestUrl": "/ws?token=x", "status": "403", "latency": "0.5s"}
    row = one(
        {**BASE, "logName": "projects/p/logs/run.googleapis.com%2Frequests", "httpRequest": http}
    )
    assert (row["http_path"], row["http_status"], row["http_latency_s"]) == ("/ws", 403, 0.5)
    assert row["message"] == "GET /ws 403 0.500s"
    assert row["end_time"] - row["timestamp"] == timedelta(seconds=0.5)
    row = one({**BASE, "httpRequest": {**http, "latency": {"seconds": 2, "nanos": 500000000}}})
    assert row["http_latency_s"] == 2.5
    row = one({**BASE, "httpRequest": {**http, "latency": "1e30s", "requestUrl": "http://[::1"}})
    assert (row["http_latency_s"], row["http_path"]) == (None, None)


def test_severity_forms() -> None:
    assert one({**BASE, "severity": "warning"})["severity"] == "WARNING"
    assert one({**BASE, "severity": 500})["severity"] == "ERROR"
    assert one(BASE)["severity"] == "DEFAULT"


def test_missing_insert_id_gets_a_deterministic_synthetic_one() -> None:
    entry = {k: v for k, v in BASE.items() if k != "insertId"}
    first, second = one(entry)["insert_id"], one(dict(reversed(list(entry.items()))))["insert_id"]
    assert re.fullmatch(r"synthetic-[0-9a-f]{16}", first)
    assert first == second
    batch = normalize_entries([("t:1", entry)])
    assert batch.mapped["no insertId (synthetic id from the entry's JSON)"] == 1


def test_an_unexpected_error_in_one_entry_is_a_counted_skip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(log_name: str | None) -> tuple[str | None, str | None]:
        if log_name and "boom" in log_name:
            raise ZeroDivisionError("division by zero")
        return "other", log_name

    monkeypatch.setattr(entry_module, "kind_of", explode)
    batch = normalize_entries([("t:1", {**BASE, "logName": "boom"}), ("t:2", BASE)])
    assert len(batch) == 1
    assert batch.skipped == {"unexpected ZeroDivisionError": 1}
    assert batch.warnings == ["t:1: skipped: unexpected ZeroDivisionError: division by zero"]


def test_rows_flushed_in_chunks_build_the_same_frame(
    real: LogRead, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entry_module, "CHUNK_ROWS", 50)
    chunked = read_log_files([str(REAL)])
    assert chunked.frame.equals(real.frame)


def test_normalize_entries_appends_to_a_given_batch() -> None:
    batch = LogBatch(label="live")
    normalize_entries([("q#1", BASE)], batch=batch)
    normalize_entries([("q#2", {**BASE, "insertId": "x2"}), ("q#3", 7)], batch=batch)
    assert len(batch) == 2
    assert batch.skipped == {"not a JSON object": 1}


@pytest.mark.parametrize(
    ("stamps", "insert_ids"),
    [
        ([1, 2, 3], ["c", "b", "a"]),  # in order: kept as it is
        ([2, 1, 3], ["a", "b", "c"]),  # out of order
        ([1, 1, 2], ["b", "a", "c"]),  # one second, ids out of order
        ([1, 1, 2], ["a", "a", "c"]),  # equal keys: sorted, never trusted
        ([1, 2, 3], ["a", None, "c"]),  # a null id
    ],
)
def test_sort_by_time_is_the_sort(stamps: list[int], insert_ids: list[str | None]) -> None:
    frame = pl.DataFrame(
        {"timestamp": stamps, "insert_id": insert_ids, "row": range(len(stamps))},
        schema={"timestamp": pl.Int64, "insert_id": pl.String, "row": pl.Int64},
    )
    done = entry_module.sort_by_time(frame)
    expected = frame.sort("timestamp", "insert_id", maintain_order=True)
    assert done.drop("row").equals(expected.drop("row"))  # equal keys may come in either order
    if len(set(zip(stamps, insert_ids, strict=True))) == len(stamps):
        assert done.equals(expected)
    assert done.get_column("timestamp").flags["SORTED_ASC"]
