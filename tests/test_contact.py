"""Did each test reach the server? Request logs in its window (Cloud Run's request log entries,
`httpRequest` with `latency`: the shape of examples/logs/gcloud-read.json), or its own ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fivewhys.contact import server_contact
from fivewhys.logs.files import read_log_files
from fivewhys.model import RunInterval

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
LOG = "projects/acme-staging/logs/run.googleapis.com%2F"


def _z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _request(at: datetime, number: int, latency_s: float = 0.05) -> dict[str, Any]:
    return {
        "httpRequest": {
            "latency": f"{latency_s}s",
            "requestMethod": "GET",
            "requestUrl": "https://chat-backend-abc-uc.a.run.app/api/threads",
            "status": 200,
            "userAgent": "python-httpx/0.28.1",
        },
        "insertId": f"req{number:04d}",
        "logName": LOG + "requests",
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": "chat-backend"}},
        "severity": "INFO",
        "timestamp": _z(at),
        "trace": "projects/acme-staging/traces/" + f"{number:032x}",
    }


def _line(at: datetime, number: int) -> dict[str, Any]:
    return {
        "insertId": f"line{number:04d}",
        "logName": LOG + "stdout",
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": "chat-backend"}},
        "textPayload": "Heartbeat sweep: 0 active connections",
        "timestamp": _z(at),
    }


def _frame(tmp_path: Path, entries: list[dict[str, Any]]) -> Any:
    path = tmp_path / "logs.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    return read_log_files([str(path)]).frame


def _span(test: str, start_s: float, end_s: float) -> RunInterval:
    return RunInterval(
        test_id=test,
        start=T0 + timedelta(seconds=start_s),
        end=T0 + timedelta(seconds=end_s),
    )


def test_a_pass_with_no_request_in_its_window_is_listed(tmp_path: Path) -> None:
    frame = _frame(
        tmp_path,
        [
            _line(T0, 1),
            _request(T0 + timedelta(seconds=3), 2),
            _line(T0 + timedelta(seconds=60), 3),
        ],
    )
    spans = [_span("t.py::test_real", 2.5, 4), _span("t.py::test_mocked", 30, 30.002)]
    contacts, headline = server_contact(spans, [], [], frame, skew_s=2.0)
    by_test = {c.test_id: c for c in contacts}
    assert by_test["t.py::test_real"].reached is True
    assert by_test["t.py::test_real"].by == "request"
    mocked = by_test["t.py::test_mocked"]
    assert mocked.reached is False and mocked.passed and mocked.duration_s == 0.002
    assert headline == ()


def test_a_long_socket_request_covers_the_tests_it_spans(tmp_path: Path) -> None:
    """A WebSocket's request log is written at its end with the whole latency: the interval."""
    socket = _request(T0 + timedelta(seconds=1), 1, latency_s=40.0)
    frame = _frame(tmp_path, [socket, _line(T0 + timedelta(seconds=90), 2)])
    contacts, _ = server_contact([_span("t.py::test_chat", 20, 25)], [], [], frame, skew_s=2.0)
    assert contacts[0].reached is True


def test_no_test_reached_the_server_is_the_first_line(tmp_path: Path) -> None:
    frame = _frame(tmp_path, [_line(T0, 1), _line(T0 + timedelta(seconds=60), 2)])
    spans = [_span("t.py::test_a", 5, 5.0), _span("t.py::test_b", 6, 6.01)]
    contacts, headline = server_contact(spans, [], [], frame, skew_s=2.0)
    assert [c.reached for c in contacts] == [False, False]
    assert headline == (
        "No test reached the server: none of the 2 tests the logs cover has a request log of "
        "chat-backend in its window or a line with its ids.",
    )


def test_logs_that_do_not_reach_a_test_say_nothing_of_it(tmp_path: Path) -> None:
    frame = _frame(tmp_path, [_line(T0, 1), _request(T0 + timedelta(seconds=1), 2)])
    contacts, headline = server_contact([_span("t.py::test_late", 300, 301)], [], [], frame, 2.0)
    assert contacts[0].reached is None and not contacts[0].covered
    assert headline == ()
