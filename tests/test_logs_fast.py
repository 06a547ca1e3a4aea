"""The vectorized NDJSON reader builds the rows the per-entry path builds, shape by shape; the
polars twins of `mask` and of the id patterns agree with the Python originals."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from test_templates import DISTINCT, SAME_FAULT, WORDS

from fivewhys.ids import (
    DEFAULT_PATTERNS,
    ENGINE_SENSITIVE,
    IdPatterns,
    _mask_by_steps,  # the reference the fast path must equal
    extract_ids,
    mask,
    mask_expr,
    polars_id_patterns,
    strip_ansi,
)
from fivewhys.logs import fast
from fivewhys.logs.entry import LogBatch, build_frame, ids_in, normalize_entries
from fivewhys.logs.files import _entries, read_log_files
from fivewhys.logs.frame import fill_templates

DATA = Path(__file__).parent / "data" / "logs"
REAL = DATA / "real" / "cloudrun-entries.ndjson"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "logs" / "sink.ndjson"

BASE: dict[str, Any] = {
    "insertId": "a1",
    "timestamp": "2025-09-07T15:42:02.123456789Z",
    "logName": "projects/p/logs/run.googleapis.com%2Fstderr",
    "resource": {"labels": {"service_name": "svc", "revision_name": "svc-1", "project_id": "p"}},
    "labels": {"instanceId": "i-1"},
    "severity": "ERROR",
}
REQUEST = {
    **BASE,
    "insertId": "a16",
    "logName": "projects/p/logs/run.googleapis.com%2Frequests",
    "trace": "projects/p/traces/0123456789abcdef0123456789abcdef",
    "httpRequest": {
        "requestMethod": "GET",
        "requestUrl": "https://h.run.app/ws?token=x",
        "status": 403,
        "latency": "0.0125s",
        "userAgent": "python-httpx/0.28.1",
    },
}


def both_ways(path: Path, patterns: IdPatterns = DEFAULT_PATTERNS) -> tuple[LogBatch, LogBatch]:
    """(vectorized, per-entry) batches of one NDJSON file."""
    vectorized = LogBatch(label=str(path))
    assert fast.read_ndjson(str(path), vectorized, patterns)
    per_entry = LogBatch(label=str(path))
    normalize_entries(_entries(str(path), per_entry), id_patterns=patterns, batch=per_entry)
    return vectorized, per_entry


def assert_same(
    path: Path, patterns: IdPatterns = DEFAULT_PATTERNS, unseen: dict[str, int] | None = None
) -> pl.DataFrame:
    """The frames are equal, and so are the accounts but for shapes polars cannot see."""
    vectorized, per_entry = both_ways(path, patterns)
    frame, duplicates = build_frame([vectorized])
    expected, expected_duplicates = build_frame([per_entry])
    assert frame.equals(expected), _first_difference(frame, expected)
    assert duplicates == expected_duplicates
    assert vectorized.mapped + Counter(unseen or {}) == per_entry.mapped
    assert vectorized.skipped == per_entry.skipped
    assert vectorized.warnings == per_entry.warnings
    return frame


def _first_difference(left: pl.DataFrame, right: pl.DataFrame) -> str:
    if left.shape != right.shape:
        return f"shapes {left.shape} != {right.shape}"
    for column in left.columns:
        differs = left.get_column(column).ne_missing(right.get_column(column))
        if differs.any():
            row = int(differs.arg_true()[0])
            where = left.get_column("source")[row]
            return f"{column} at {where}: {left[column][row]!r} != {right[column][row]!r}"
    return "same"


def write(path: Path, entries: list[Any]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return path


# --- the same rows -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [REAL, EXAMPLE, DATA / "startup-chain.ndjson"], ids=str)
def test_real_files_read_the_same_both_ways(path: Path) -> None:
    assert_same(path)


def test_a_generated_scenario_reads_the_same_both_ways(tmp_path: Path) -> None:
    from bench.generate import Scenario, generate

    files = generate(Scenario(entries=3_000, failures=20, tests=100, seed=3), tmp_path)
    frame = assert_same(files.logs)
    assert frame.height == 3_000
    # the generator writes ANSI lines, access lines, request summaries and ids only in text
    assert frame.filter(pl.col("message").str.contains("pool in_use=")).height
    assert frame.filter(pl.col("kind") == "stdout").get_column("http_status").drop_nulls().len()
    assert (
        frame.filter(pl.col("message").str.starts_with("Broadcast to "))
        .get_column("connection_id")
        .null_count()
        == 0
    )


ODD_SHAPES: list[Any] = [
    BASE,
    {**BASE, "insertId": "a2", "textPayload": "plain text line\r\n"},
    {**BASE, "insertId": "a3", "timestamp": "2025-09-07T17:42:02+02:00", "textPayload": "x"},
    {**BASE, "insertId": "a4", "severity": 500, "textPayload": "numeric severity"},
    {**BASE, "insertId": "a5", "severity": "warning", "textPayload": "lower-case severity"},
    {**BASE, "insertId": "a6", "jsonPayload": {"msg": "msg not message"}},
    {**BASE, "insertId": "a7", "jsonPayload": {"message": {"nested": 1}}},
    {**BASE, "insertId": "a8", "jsonPayload": {"message": "boom", "exc_info": "Traceback\nE"}},
    {**BASE, "insertId": "a9", "jsonPayload": {"message": "boom", "context": {"exc_info": True}}},
    {
        **BASE,
        "insertId": "a10",
        "jsonPayload": {"message": "x", "context": {"connectionId": "ws-1", "exc_info": "tb"}},
    },
    {
        **BASE,
        "insertId": "a11",
        "labels": {"instanceId": "i", "user_id": "u-7"},
        "textPayload": "y",
    },
    {**BASE, "insertId": "a12", "textPayload": "closed user_id=None connection_id=conn_9"},
    {**BASE, "insertId": "a13", "textPayload": "\x1b[32mgreen\x1b[0m user_id=u_1"},
    {**BASE, "insertId": "a14", "textPayload": '1.2.3.4:5 - "GET /health HTTP/1.1" 200'},
    {**BASE, "insertId": "a15", "textPayload": "[INFO] connection rejected (403 Forbidden)"},
    REQUEST,
    {**REQUEST, "insertId": "a17", "httpRequest": {**REQUEST["httpRequest"], "latency": "0.0005s"}},
    {**REQUEST, "insertId": "a18", "httpRequest": {**REQUEST["httpRequest"], "status": "404"}},
    # digits with spaces around them: entry.py's int() reads them, the vectorized cast does not
    {**REQUEST, "insertId": "a18s", "httpRequest": {**REQUEST["httpRequest"], "status": " 404 "}},
    {**REQUEST, "insertId": "a19", "httpRequest": {**REQUEST["httpRequest"], "latency": "1e30s"}},
    {**REQUEST, "insertId": "a20", "httpRequest": {"method": "GET", "url": "/x"}},
    {
        **REQUEST,
        "insertId": "a21",
        "httpRequest": {**REQUEST["httpRequest"], "requestUrl": "http://[::1"},
    },
    {**BASE, "insertId": "a22", "textPayload": "café ⚠️ n\u0301 x²"},  # engines disagree on \w
    {
        **BASE,
        "insertId": "a23",
        "jsonPayload": {
            "message": "t",
            "logging.googleapis.com/trace": "projects/p/traces/" + "A" * 32,
        },
    },
    {**BASE, "insertId": "a24", "trace": "1" * 32, "textPayload": "a trace of digits"},
    {**BASE, "insertId": "a25", "spanId": 12.5, "textPayload": "a float span"},
    {**{k: v for k, v in BASE.items() if k != "insertId"}, "textPayload": "no insertId"},
    {**{k: v for k, v in BASE.items() if k != "logName"}, "insertId": "a27", "textPayload": "x"},
    {
        "insert_id": "a28",
        "timestamp": "2025-09-07T15:42:02Z",
        "text_payload": "snake",
        "log_name": "l",
    },
    {**BASE, "insertId": "a29", "protoPayload": {"methodName": "m", "resourceName": "r"}},
    {**BASE, "insertId": "a30", "timestamp": "2025-02-30T00:00:00Z", "textPayload": "bad date"},
    {**BASE, "insertId": "a31", "timestamp": "2025-09-07T23:59:60Z", "textPayload": "leap second"},
    {**BASE, "insertId": "a1", "textPayload": "a repeated insertId: the first line read wins"},
    {
        **BASE,
        "insertId": "a33",
        "textPayload": "id 0x1a2b3c4d, deadbeef42 and 12345678 at /a/b/c.py",
    },
    {**BASE, "insertId": "a34", "jsonPayload": {"message": "42"}},
    {**BASE, "insertId": "a35", "textPayload": "a \x1c separator Python calls a space"},
]


def test_every_odd_shape_reads_the_same_both_ways(tmp_path: Path) -> None:
    path = write(tmp_path / "odd.ndjson", ODD_SHAPES)
    # "404" and 404 read the same to polars (see fast.py)
    frame = assert_same(path, unseen={"httpRequest.status as a string": 1})
    assert frame.height == len(ODD_SHAPES) - 2  # a repeated insertId, a bad date
    summaries = frame.filter(pl.col("kind") == "request").get_column("message").to_list()
    # 0.0005 and 0.0125 are decimal ties: Python rounds their binary values, up here
    assert summaries.count("GET /ws 403 0.001s python-httpx/0.28.1") == 1
    assert summaries.count("GET /ws 403 0.013s python-httpx/0.28.1") == 1


def test_blank_lines_keep_the_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "blank.ndjson"
    path.write_text(json.dumps(BASE) + "\n\n   \n" + json.dumps({**BASE, "insertId": "b"}) + "\n")
    frame = assert_same(path)
    assert frame.get_column("source").to_list() == [f"{path}:1", f"{path}:4"]


def test_a_repeated_insert_id_keeps_the_line_read_first_though_it_is_later(
    tmp_path: Path,
) -> None:
    # the vectorized rows come sorted by time; a repeat must still keep the first line read
    late = {**BASE, "insertId": "dup", "timestamp": "2025-09-07T15:42:09Z", "textPayload": "first"}
    early = {**late, "timestamp": "2025-09-07T15:42:01Z", "textPayload": "second"}
    other = {**BASE, "insertId": "z", "timestamp": "2025-09-07T15:42:05Z", "textPayload": "z"}
    odd = {**other, "insertId": "o", "severity": 500}  # read by entry.py, merged by line
    for name, entries in (("plain", [late, other, early]), ("odd", [late, odd, early, other])):
        frame = assert_same(write(tmp_path / f"{name}.ndjson", entries))
        assert frame.filter(pl.col("insert_id") == "dup").get_column("message").to_list() == [
            "first"
        ]
        assert frame.get_column("timestamp").is_sorted()
    # across files the first file's row is kept, whatever its time
    second = write(tmp_path / "second.ndjson", [{**early, "textPayload": "second file"}, other])
    read = read_log_files([str(tmp_path / "plain.ndjson"), str(second)])
    assert read.frame.filter(pl.col("insert_id") == "dup").get_column("message").to_list() == [
        "first"
    ]
    assert read.skipped == {"duplicate insertId": 3}


def test_configured_id_patterns_are_applied_per_message(tmp_path: Path) -> None:
    patterns = IdPatterns(connection_id=(r"ws_session=(\w+)", *DEFAULT_PATTERNS.connection_id))
    entries = [{**BASE, "insertId": f"c{n}", "textPayload": f"ws_session=s{n}"} for n in range(3)]
    frame = assert_same(write(tmp_path / "ids.ndjson", entries), patterns)
    assert frame.get_column("connection_id").to_list() == ["s0", "s1", "s2"]


def test_a_file_polars_cannot_read_is_left_to_the_per_entry_path(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ndjson"
    broken.write_text(json.dumps(BASE) + "\n{not json\n")
    batch = LogBatch(label=str(broken))
    assert not fast.read_ndjson(str(broken), batch, DEFAULT_PATTERNS)
    assert len(batch) == 0 and not batch.mapped
    read = read_log_files([str(broken)])
    assert read.frame.height == 1
    assert read.skipped == {"invalid JSON": 1}
    mixed = write(tmp_path / "mixed.ndjson", [BASE, {**BASE, "insertId": "b", "httpRequest": "x"}])
    assert not fast.read_ndjson(str(mixed), LogBatch(), DEFAULT_PATTERNS)
    assert read_log_files([str(mixed)]).frame.height == 2


def test_raw_keeps_where_an_entry_came_from() -> None:
    frame = read_log_files([str(REAL)]).frame
    row = frame.filter(pl.col("insert_id") == "68bda7ca000d93873002a3e0").row(0, named=True)
    assert json.loads(row["raw"]) == {
        "logName": "projects/netra-staging/logs/run.googleapis.com%2Frequests",
        "resource": {"labels": {"project_id": "netra-staging"}},
    }


# --- the polars twins ----------------------------------------------------------------------------

TRICKY = [
    "0x1a2b3c4d 0x12345678 0xabcdefab deadbeef42 42deadbeef 1234abcd 12345678 abcdef12",
    "user_id=u-1 user_id: 'x' connectionId=<ID> trace_id=\"abc\" x_id=1",
    "at 2025-09-07T15:42:02.123Z and 2025-09-07 15:42:02,5 +02:00 took -12.5ms +3s 7us",
    "https://h.example/a?b=1 ws://x:1/ws 10.0.0.1:6379 550e8400-e29b-41d4-a716-446655440000",
    "/usr/lib/python3.11/site.py /a/b/c eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig thr_9 a_b_3",
    "1-2 x-1 -1 <NUM>5 5s2 1.5.6 v2 a1b2c3d4e5",
    "  spaced\t\tout \n lines  ",
    "\x1b[31mred\x1b[0m 42",
    "utf-8 ISO-8859-1 x86_64 e2e-tests gpt-4o 1st 0xff 0x 12ms HTTP/2 http/1.1 exit(3) code=1011",
    "a@b a@b.c [::1] ::1 fe80:: std::io a::b 1:2:3:4:5:6:7:8 [fe80::1%eth0]:80 status: '404'",
    'GET  /x 500 WebSocket /ws" 403 received 1000 closed=4001 -1.5.6 +2 --3 <ID>x1 eyJ-eyJ.a.b',
    *(line for pair in (*SAME_FAULT, *DISTINCT) for line in pair),
    *WORDS,
]


def messages() -> list[str]:
    frame = read_log_files([str(REAL), str(EXAMPLE)]).frame
    return [*frame.get_column("message").to_list(), *TRICKY]


def test_mask_expr_is_mask() -> None:
    texts = [t for t in messages() if not pl.Series([t]).str.contains(ENGINE_SENSITIVE)[0]]
    masked = pl.Series(texts).to_frame("t").select(mask_expr(pl.col("t"))).to_series()
    assert masked.to_list() == [mask(t) for t in texts]


#: pieces each mask step reacts to, and near misses of them: random strings of these reach
#: every guard and token class of `mask`'s fast path
PIECES = [
    *("HTTP/1.1", "HTTP/2 ", "status=", "Status_Code: ", "code:", "closed ", "sent ", "received "),
    *("GET /x ", "WebSocket /ws ", "exit(", "Exited with code ", "0x1f", "0x", "0xZZ", "deadbeef"),
    *("abcdefabcdefabcdef", "abcdefabcdefabc", "utf-8", "ISO-8859-1", "sha256", "x86_64", "e2e"),
    *("conn_8e2", "12ms", "1.5.6", "-3", "+2", "user_id=", "userId: '", "eyJa.b.c", "eyJ-"),
    *("2025-09-07T15:42:02Z", "10.0.0.1:80", "::1", "fe80::", "/a/b/c", "/a/b.py", "a@b.c"),
    *("550e8400-e29b-41d4-a716-446655440000", "1234abcd", "12345678", "42", "\u0663", "é"),
    *(" ", "  ", "\t", '"', "'", "=", ":", ".", "-", "_", "<ID>", "x", "Id"),
]


def test_mask_is_its_steps_run_one_by_one() -> None:
    """The fast path (steps skipped by a literal test, the token steps as one pass) against
    `_MASK_STEPS` applied in turn, on the tricky lines and 20,000 seeded random ones."""
    rng = random.Random(14)
    texts = [*messages(), "\ue000abc1\ue001 9", "x\ue003 42"]
    texts += ["".join(rng.choices(PIECES, k=rng.randrange(1, 9))) for _ in range(20_000)]
    for text in texts:
        assert mask(text) == _mask_by_steps(strip_ansi(text).strip()), text


def test_extract_ids_skips_only_text_its_patterns_cannot_match() -> None:
    """The default patterns skip text naming no id; patterns that differ (an extra pattern
    that never matches) search everything: both find the same ids."""
    never = ("(zz_never_an_id_zz)",)
    searching = IdPatterns(
        connection_id=DEFAULT_PATTERNS.connection_id + never,
        user_id=DEFAULT_PATTERNS.user_id + never,
        trace=DEFAULT_PATTERNS.trace + never,
    )
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    texts = [
        *messages(),
        f"TrAcE_Id: {trace}",
        f"X-Cloud-Trace-Context: {trace}/1;o=1",
        f"projects/p/traces/{trace}",
        "uid=alice connectionId: 'c-1' websocket_id=w-1",
    ]
    for text in texts:
        assert extract_ids([text]) == extract_ids([text], patterns=searching), text


def test_polars_id_patterns_find_the_ids_python_finds() -> None:
    twins = polars_id_patterns(DEFAULT_PATTERNS)
    assert twins is not None
    assert polars_id_patterns(IdPatterns(user_id=(r"u=(\w+)",))) is None
    texts = pl.DataFrame({"_searchable": messages()})
    found = fast._text_ids(texts, twins, DEFAULT_PATTERNS)
    expected = [ids_in(t, DEFAULT_PATTERNS) for t in texts.get_column("_searchable")]
    assert list(found.select("t_connection_id", "t_user_id", "t_trace").iter_rows()) == expected
    assert any(e != (None, None, None) for e in expected)
    assert extract_ids(["user_id=None"]).user_ids == ()


def test_fill_templates_masks_only_what_a_reader_left_out() -> None:
    frame = read_log_files([str(REAL)]).frame.head(20)
    frame = frame.with_columns(
        template=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("kept")).otherwise(None)
    )
    filled = fill_templates(frame)
    assert filled.get_column("template")[0] == "kept"
    assert filled.get_column("template").to_list()[1:] == [
        mask(m[:2000]) for m in frame.get_column("message").to_list()[1:]
    ]
    assert filled.columns == frame.columns
