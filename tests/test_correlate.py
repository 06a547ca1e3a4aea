"""The key ladder and windows: what joins a failure, by which key, and what must never join."""

from __future__ import annotations

from conftest import at, make_failure, make_frame

from fivewhys.config import WindowSettings
from fivewhys.correlate import correlate

SETTINGS = WindowSettings(before_s=5, after_s=5, skew_s=1)


def _joined(failures, frame):  # type: ignore[no-untyped-def]
    result = correlate(failures, frame, SETTINGS)
    return result, {
        (row["failure_idx"], row["insert_id"]): row["join_key"]
        for row in result.candidates.iter_rows(named=True)
    }


def test_keys_strongest_first_and_other_users_lines_never_join() -> None:
    failure = make_failure(connection_ids=("conn_mine",), user_ids=("u1",), traces=("a" * 32,))
    frame = make_frame(
        [
            {
                "insert_id": "mine",
                "timestamp": at(1.9),
                "connection_id": "conn_mine",
                "user_id": "u1",
                "trace": "a" * 32,
                "message": "Factory SSOT validation failed",
            },
            {
                "insert_id": "other-conn",
                "timestamp": at(1.95),
                "connection_id": "conn_other",
                "message": "Factory SSOT validation failed",
            },
            {"insert_id": "by-trace", "timestamp": at(1.0), "trace": "a" * 32, "kind": "request"},
            {"insert_id": "by-user", "timestamp": at(0.5), "user_id": "u1"},
            {"insert_id": "other-user", "timestamp": at(0.5), "user_id": "u2"},
            {"insert_id": "no-ids", "timestamp": at(1.5), "message": "Redis pool ready"},
            {"insert_id": "too-late", "timestamp": at(9.0), "connection_id": "conn_mine"},
        ]
    )
    result, joined = _joined([failure], frame)
    assert joined == {
        (0, "mine"): "connection_id",
        (0, "by-trace"): "trace",
        (0, "by-user"): "user_id",
        (0, "no-ids"): "time",
    }
    assert result.candidates.get_column("insert_id").to_list() == [
        "mine",
        "by-trace",
        "by-user",
        "no-ids",
    ]
    assert result.covered == [True]


def test_lines_of_another_failure_are_not_time_candidates_of_an_id_less_failure() -> None:
    keyed = make_failure(test_id="t::keyed", connection_ids=("conn_a",))
    bare = make_failure(test_id="t::bare", message="AssertionError: assert 1 == 2")
    frame = make_frame(
        [
            {"insert_id": "a-line", "timestamp": at(1.0), "connection_id": "conn_a"},
            {"insert_id": "quiet", "timestamp": at(1.0)},
        ]
    )
    _result, joined = _joined([keyed, bare], frame)
    assert joined == {
        (0, "a-line"): "connection_id",
        (0, "quiet"): "time",
        (1, "quiet"): "time",
    }


def test_request_log_interval_overlaps_window_though_it_starts_before() -> None:
    failure = make_failure(start=100.0, end=102.0, traces=("b" * 32,))
    frame = make_frame(
        [
            # a WebSocket that lived 95 s: the entry's timestamp is its start, far before the window
            {
                "insert_id": "ws-101",
                "timestamp": at(10.0),
                "http_latency_s": 92.5,
                "kind": "request",
                "http_status": 101,
                "http_path": "/ws",
                "trace": "b" * 32,
            },
            {
                "insert_id": "short-before",
                "timestamp": at(10.0),
                "http_latency_s": 0.1,
                "kind": "request",
                "http_status": 200,
                "http_path": "/health",
            },
        ]
    )
    result, joined = _joined([failure], frame)
    assert joined == {(0, "ws-101"): "trace"}
    assert result.candidates.get_column("offset_s").to_list() == [-92.0]


def test_time_only_request_log_with_contradicting_status_is_not_a_candidate() -> None:
    failure = make_failure(
        message="websockets.exceptions.InvalidStatus: server rejected WebSocket connection: "
        "HTTP 500"
    )
    frame = make_frame(
        [
            {
                "insert_id": "ws-403",
                "timestamp": at(1.0),
                "kind": "stdout",
                "http_status": 403,
                "http_path": "/ws",
                "message": '"WebSocket /ws" 403',
            },
            {
                "insert_id": "ws-500",
                "timestamp": at(1.2),
                "kind": "request",
                "http_status": 500,
                "http_path": "/ws",
            },
        ]
    )
    _result, joined = _joined([failure], frame)
    assert joined == {(0, "ws-500"): "time"}


def test_failure_with_no_line_in_its_window_is_not_covered() -> None:
    failure = make_failure(start=1000.0, end=1001.0)
    frame = make_frame([{"insert_id": "early", "timestamp": at(0.0)}])
    result, joined = _joined([failure], frame)
    assert joined == {}
    assert result.covered == [False]
    assert result.windows[0].start == at(1000.0 - 6)
    assert result.windows[0].end == at(1001.0 + 6)
