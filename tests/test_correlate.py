"""The key ladder and windows: what joins a failure, by which key, and what must never join."""

from __future__ import annotations

import random
from datetime import timedelta

import polars as pl
import pytest
from conftest import at, make_failure, make_frame

from fivewhys.config import WindowSettings
from fivewhys.correlate import SetAside, correlate, failure_window
from fivewhys.model import RunInterval

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


# --- the joins against a direct reading of the ladder --------------------------------------------

MESSAGES = (
    "websockets.exceptions.ConnectionClosedError: received 1011 (internal error) Internal error",
    "websockets.exceptions.InvalidStatus: server rejected WebSocket connection: HTTP 403",
    "httpx.HTTPStatusError: Server error '500 Internal Server Error' for url 'https://h/api/x'",
    "AssertionError: assert 1 == 2",
)


def _ladder(failures, frame, keep, intervals=()):  # type: ignore[no-untyped-def]
    """Every (failure, line) pair labelled one by one: what correlate must equal."""
    lines = frame.to_dicts()
    users_of: dict[str, set[str]] = {}
    for failure in failures:
        users_of.setdefault(failure.test_id, set()).update(failure.ids.user_ids)
    margin = timedelta(seconds=0.25)  # the failures' times are exact
    owned = {
        kind: {i for f in failures for i in getattr(f.ids, kind)}
        for kind in ("connection_ids", "traces", "user_ids")
    }
    columns = {"connection_ids": "connection_id", "traces": "trace", "user_ids": "user_id"}
    chosen, aside, covered = [], [], []
    for index, failure in enumerate(failures):
        window = failure_window(failure, SETTINGS)
        event = failure.event
        own_lo, own_hi = failure.started_at - margin, failure.finished_at + margin
        own_test = next(
            (
                i
                for i in intervals
                if i.test_id == failure.test_id
                and i.start <= failure.finished_at
                and i.end >= failure.started_at
            ),
            None,
        )
        rows, other, contradicting, seen = [], 0, 0, 0
        for line in lines:
            if line["end_time"] < window.start or line["timestamp"] > window.end:
                continue
            seen += 1
            mine, foreign = {}, {}
            for kind, column in columns.items():
                value, own = line[column], getattr(failure.ids, kind)
                mine[kind] = value is not None and value in own
                foreign[kind] = (
                    value is not None and not mine[kind] and (bool(own) or value in owned[kind])
                )
            if mine["connection_ids"]:
                key = "connection_id"
            elif mine["traces"] and not foreign["connection_ids"]:
                key = "trace"
            elif mine["user_ids"] and not foreign["connection_ids"] and not foreign["traces"]:
                key = "user_id"
            elif not any(foreign.values()):
                key = "time"
            else:
                other += 1
                continue
            t = line["timestamp"]
            beside = own_lo <= t <= own_hi or (
                own_test is not None and own_test.start <= t <= own_test.end
            )
            running = [i for i in intervals if i.start <= t <= i.end]
            theirs = [
                i
                for i in running
                if i.test_id != failure.test_id
                and (not users_of.get(i.test_id) or line["user_id"] in users_of[i.test_id])
            ]
            if not beside and (
                (key == "user_id" and theirs)
                or (key == "time" and running and line["kind"] not in ("system", "audit"))
            ):
                other += 1  # another test's line
                continue
            status, path = line["http_status"], line["http_path"]
            if (
                key == "time"
                and status is not None
                and event.http_status is not None
                and status != event.http_status
                and (event.url_path is None or path is None or path == event.url_path)
            ):
                contradicting += 1
                continue
            offset = (line["timestamp"] - failure.finished_at).total_seconds()
            hint = 2 * (event.url_path is not None and path == event.url_path)
            hint += 2 * (status is not None and status == event.http_status)
            hint += line["severity"] in ("WARNING", "ERROR", "CRITICAL")
            hint += line["kind"] in ("system", "stderr")
            if event.url_path is not None and path is None:
                hint = 0  # the hint expression is null then, and null counts as 0
            rank = ["connection_id", "trace", "user_id", "time"].index(key)
            pad = key == "user_id" and not own_lo <= t <= own_hi
            rows.append((rank, pad, -hint, abs(offset), line["insert_id"], key))
        rows.sort()
        timed = [r for r in rows if r[5] == "time"][: keep[index]]
        rows = [r for r in rows if r[5] != "time"] + timed
        chosen += [(index, r[4], r[5]) for r in rows]
        aside.append((other, contradicting))
        covered.append(seen > 0)
    return chosen, aside, covered


@pytest.mark.parametrize("seed", range(12))
def test_correlate_equals_the_ladder_read_line_by_line(seed: int) -> None:
    """Odd seeds put lines on whole seconds: many at one instant, ranked by insert_id. Seeds
    from 4 on give the run's test intervals too (the failures' own, and passing tests')."""
    rng = random.Random(seed)
    conns = [f"conn_{n}" for n in range(8)]
    users = [f"u{n}" for n in range(8)]
    traces = [f"{n:032x}" for n in range(8)]
    failures = []
    for n in range(12):
        start = rng.uniform(0, 80)
        ids = {
            "connection_ids": tuple(rng.sample(conns[:5], rng.randint(0, 1))),
            "user_ids": tuple(rng.sample(users[:5], rng.randint(0, 2))),
            "traces": tuple(rng.sample(traces[:5], rng.randint(0, 1))),
        }
        message = rng.choice(MESSAGES)
        failures.append(
            make_failure(test_id=f"t::{n}", message=message, start=start, end=start + 2, **ids)
        )
    rows = []
    for n in range(400):
        kind = rng.choice(["request", "stdout", "stderr", "system"])
        row = {
            "insert_id": f"l{n:03d}",
            "timestamp": at(rng.randint(-20, 110) if seed % 2 else rng.uniform(-20, 110)),
            "kind": kind,
            "severity": rng.choice(["DEFAULT", "INFO", "WARNING", "ERROR"]),
            "connection_id": rng.choice([None, None, *conns]),
            "user_id": rng.choice([None, None, *users]),
            "trace": rng.choice([None, None, *traces]),
        }
        if kind == "request" or rng.random() < 0.1:
            row["http_status"] = rng.choice([101, 200, 403, 500])
            row["http_path"] = rng.choice([None, "/ws", "/api/x"])
            row["http_latency_s"] = rng.choice([0.0, 0.01, 30.0])
        rows.append(row)
    frame = make_frame(rows)
    keep = [rng.choice([0, 3, 200]) for _ in failures]
    intervals: list[RunInterval] = []
    if seed >= 4:
        for failure in failures:
            start = failure.started_at - timedelta(seconds=rng.uniform(0, 1.5))
            end = failure.finished_at + timedelta(seconds=rng.uniform(0, 1.5))
            intervals.append(RunInterval(test_id=failure.test_id, start=start, end=end))
        for n in range(10):
            start = rng.uniform(-20, 100)
            end = start + rng.uniform(0.2, 8)
            intervals.append(RunInterval(test_id=f"p::{n}", start=at(start), end=at(end)))
    result = correlate(failures, frame, SETTINGS, time_caps=keep, intervals=intervals)
    chosen, aside, covered = _ladder(failures, frame, keep, intervals)
    got = list(result.candidates.select("failure_idx", "insert_id", "join_key").iter_rows())
    assert got == chosen
    assert [(s.other_ids, s.contradicting) for s in result.set_aside] == aside
    assert result.covered == covered
    assert {key for _, _, key in chosen} == {"connection_id", "trace", "user_id", "time"}
    if intervals:  # the intervals did keep other tests' lines out
        _, alone, _ = _ladder(failures, frame, keep)
        assert sum(o for o, _ in aside) > sum(o for o, _ in alone)


def test_candidates_carry_their_templates() -> None:
    failure = make_failure(connection_ids=("conn_a",))
    frame = make_frame(
        [{"insert_id": "a", "timestamp": at(1.0), "connection_id": "conn_a", "message": "took 5ms"}]
    ).with_columns(template=pl.lit(None, dtype=pl.String))
    result = correlate([failure], frame, SETTINGS)
    assert result.candidates.get_column("template").to_list() == ["took <NUM>"]


def test_lines_at_one_instant_are_kept_by_insert_id() -> None:
    """The nearest time-only lines tie on distance: the smallest insert_ids win, on both sides
    of the failure's end, whatever order the lines come in."""
    failure = make_failure(start=0.0, end=2.0)
    before = [{"insert_id": i, "timestamp": at(1.0), "kind": "stdout"} for i in "dcba"]
    after = [{"insert_id": i, "timestamp": at(3.0), "kind": "stdout"} for i in ("bb", "aa")]
    frame = make_frame(after + before)
    result = correlate([failure], frame, SETTINGS, time_caps=[3])
    assert result.candidates.get_column("insert_id").to_list() == ["a", "aa", "b"]
    assert result.set_aside == [SetAside(0, 0)]
