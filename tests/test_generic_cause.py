"""The generic cause: no named rule, but an ERROR line keyed to the failing connection or trace
just before what the client saw. Its lines are written the way three stacks log on Cloud Run;
its near misses (after the close, another connection, a WARNING, seconds earlier) must not make
it, and the weaker ones stay in the server-error bucket."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import T0, make_failure

from fivewhys.config import WindowSettings
from fivewhys.correlate import correlate
from fivewhys.generic import GENERIC_RULE
from fivewhys.logs.entry import build_frame, normalize_entries
from fivewhys.model import Cause, Failure
from fivewhys.rules.loader import bundled_rules_dir, load_rules
from fivewhys.whys import GENERIC_CAP, Explained, build_causes, explain_failures

CLOSE_1011 = (
    "websockets.exceptions.ConnectionClosedError: received 1011 (internal error) Internal error; "
    "then sent 1011 (internal error) Internal error"
)
SERVER_500 = (
    "httpx.HTTPStatusError: Server error '500 Internal Server Error' for url "
    "'https://chat-x.a.run.app/api/threads'"
)
RESOURCE = {
    "type": "cloud_run_revision",
    "labels": {"service_name": "chat", "revision_name": "chat-00042-xaz"},
}
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _stdout(insert_id: str, seconds: float, payload: dict[str, Any]) -> dict[str, Any]:
    """Structured stdout on Cloud Run: the agent lifts `severity` (and
    `logging.googleapis.com/trace`) out of the JSON line; see
    https://cloud.google.com/logging/docs/structured-logging."""
    return {
        "insertId": insert_id,
        "logName": "projects/p/logs/run.googleapis.com%2Fstdout",
        "resource": RESOURCE,
        "timestamp": (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z"),
        "severity": payload.pop("severity"),
        "jsonPayload": payload,
    }


def python_websockets(conn: str, seconds: float, severity: str = "ERROR") -> dict[str, Any]:
    """websockets' server logs `connection handler failed` with exc_info when a handler raises
    (websockets/asyncio/server.py); a JSON formatter adds the app's connection id."""
    return _stdout(
        f"py-{conn}-{seconds}",
        seconds,
        {
            "severity": severity,
            "message": "connection handler failed\nTraceback (most recent call last):\n"
            '  File "/app/chat/ws.py", line 88, in on_message\n'
            "    thread = context['thread_id']\nKeyError: 'thread_id'",
            "connection_id": conn,
            "logger": "websockets.server",
        },
    )


def node_pino(conn: str, seconds: float) -> dict[str, Any]:
    """pino with Google's Cloud Logging config (@google-cloud/pino-logging-gcp-config: level as
    `severity`, `message` as the message key); `err` serialized by pino's std serializer
    (type, message, stack)."""
    return _stdout(
        f"node-{conn}-{seconds}",
        seconds,
        {
            "severity": "ERROR",
            "time": "2025-09-07T15:00:00.950Z",
            "pid": 1,
            "hostname": "localhost",
            "connectionId": conn,
            "err": {
                "type": "TypeError",
                "message": "Cannot read properties of undefined (reading 'threadId')",
                "stack": "TypeError: Cannot read properties of undefined (reading 'threadId')\n"
                "    at WebSocket.onMessage (/app/dist/ws.js:41:27)",
            },
            "message": "message handler failed",
        },
    )


def go_slog(seconds: float) -> dict[str, Any]:
    """Go log/slog's JSONHandler with the ReplaceAttr Cloud Logging wants (level -> severity,
    msg -> message, the trace under logging.googleapis.com/trace)."""
    return _stdout(
        f"go-{seconds}",
        seconds,
        {
            "severity": "ERROR",
            "time": "2025-09-07T15:00:00.950123Z",
            "message": "handler panic: runtime error: invalid memory address or nil pointer "
            "dereference",
            "logging.googleapis.com/trace": f"projects/p/traces/{TRACE}",
            "path": "/api/threads",
        },
    )


def _explain(
    failures: list[Failure], entries: list[dict[str, Any]]
) -> tuple[list[Explained], dict[int, Cause]]:
    """Only the fallback rules of the library: no named rule can take these failures."""
    batch = normalize_entries((f"e[{n}]", e) for n, e in enumerate(entries))
    frame, _ = build_frame([batch])
    settings = WindowSettings()
    fallbacks = [
        r for r in load_rules([bundled_rules_dir()], collect_errors=False) if r.is_fallback
    ]
    correlation = correlate(failures, frame, settings)
    explained = explain_failures(failures, correlation, fallbacks, slack_s=settings.skew_s)
    return explained, build_causes(explained)


def _closed(conn: str, test: str = "tests/e2e/test_chat.py::test_send") -> Failure:
    return make_failure(
        test_id=test, message=CLOSE_1011, start=0.0, end=1.0, connection_ids=(conn,)
    )


def test_python_handler_error_on_the_connection_is_a_generic_cause() -> None:
    explained, causes = _explain(
        [_closed("conn_8e2091c99d64")], [python_websockets("conn_8e2091c99d64", 0.96)]
    )
    cause = causes[0]
    assert explained[0].generic and explained[0].bucket == "cause"
    assert cause.generic and not cause.tentative
    assert cause.rule_id == GENERIC_RULE.id
    assert cause.title == (
        'The server logged "connection handler failed" on the connection 40 ms before it closed'
    )
    assert cause.confidence == GENERIC_CAP
    assert [w.kind for w in cause.whys] == ["evidence", "evidence", "question", "question"]
    assert cause.whys[0].client == "test-results:1"
    assert cause.whys[1].evidence == ("py-conn_8e2091c99d64-0.96",)
    assert "joined on connection_id" in cause.whys[1].text


def test_node_errors_of_one_template_on_two_connections_are_one_cause() -> None:
    ulids = ("01J9Z3K4M5N6P7Q8R9S0T1V2W3", "01J9Z3K4M5N6P7Q8R9S0T1V2W4")
    failures = [_closed(c, f"tests/e2e/test_chat.py::test_{n}") for n, c in enumerate(ulids)]
    entries = [node_pino(ulids[0], 0.9), node_pino(ulids[1], 0.2)]
    _explained, causes = _explain(failures, entries)
    assert causes[0] is causes[1]
    assert causes[0].failures == tuple(f.test_id for f in failures)
    assert causes[0].title == (
        'The server logged "message handler failed" on the connection 100 ms to 800 ms before it '
        "closed"
    )


def test_go_panic_in_the_requests_trace_is_a_generic_cause() -> None:
    failure = make_failure(message=SERVER_500, start=0.0, end=1.0, traces=(TRACE,))
    _explained, causes = _explain([failure], [go_slog(0.95)])
    assert causes[0].title.startswith(
        'The server logged "handler panic: runtime error: invalid memory address or nil pointer '
        "dereference\" in the request's trace 50 ms before the client got HTTP 500"
    )


def test_near_misses_are_no_generic_cause() -> None:
    conn = "conn_8e2091c99d64"
    cases = {
        "after the close": ([python_websockets(conn, 4.0)], "server-error"),
        "on another connection": ([python_websockets("conn_other00001", 0.96)], "unexplained"),
        "a warning": ([python_websockets(conn, 0.96, "WARNING")], "unexplained"),
        "seconds earlier": ([python_websockets(conn, -7.0)], "server-error"),
    }
    for name, (entries, bucket) in cases.items():
        explained, causes = _explain([_closed(conn)], entries)
        assert causes == {}, name
        assert explained[0].bucket == bucket, name
        assert not explained[0].generic, name


def test_a_named_rule_comes_before_the_generic_cause() -> None:
    """The bundled library's factory rule knows this 1011: it explains it, not the generic."""
    conn = "conn_8e2091c99d64"
    entry = _stdout(
        "factory",
        0.96,
        {
            "severity": "ERROR",
            "message": "Factory SSOT validation failed: UserExecutionContext mismatch",
            "connection_id": conn,
        },
    )
    batch = normalize_entries([("e[0]", entry)])
    frame, _ = build_frame([batch])
    failure = _closed(conn)
    correlation = correlate([failure], frame, WindowSettings())
    explained = explain_failures(
        [failure], correlation, load_rules([bundled_rules_dir()], collect_errors=False), 2.0
    )
    assert explained[0].match is not None
    assert explained[0].match.rule.id != GENERIC_RULE.id
    assert not explained[0].generic
