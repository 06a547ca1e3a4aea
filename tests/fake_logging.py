"""A fake Cloud Logging `POST /v2/entries:list` endpoint on loopback, for the real client.

It evaluates the filters it receives in the Logging query language (tests/logging_filter.py),
rejects what the API rejects (a filter it cannot parse or run, no timestamp range, over
20,000 characters, pages over 1000: 400 INVALID_ARGUMENT), pages the way the API does
(`nextPageToken` omitted on the last page: an empty one makes the client loop forever),
answers with `Z` timestamps, records every request, and can be told to fail: 429, 500, 403,
hang, drop the connection, or hold the entries back until a (fake) time, to exercise settling.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from logging_filter import FilterError, compile_filter

FAULTS = ("429", "500", "403", "hang", "drop")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def zulu(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Seen:
    """One request as the fake received it, and how it answered."""

    filter: str
    page_size: int
    page_token: str | None
    order_by: str | None
    resource_names: tuple[str, ...]
    at: float
    answer: str


@dataclass
class FakeLogging:
    """The fake's state; start it with `serve()` (or the `fake_logging` fixture)."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    #: time source for `Seen.at` and `visible_from` (a test's fake clock, or real time)
    clock: Callable[[], float] = time.monotonic
    #: faults for the next requests, in order ("ok" lets one through)
    faults: list[str] = field(default_factory=list)
    #: a fault decided per request from its filter (after `faults` is used up)
    fault_for: Callable[[str], str | None] | None = None
    #: how long "hang" holds a request before answering normally
    hang_s: float = 1.0
    #: entries are invisible until `clock()` reaches this (ingestion delay)
    visible_from: float | None = None
    requests: list[Seen] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stamps: list[datetime] = field(default_factory=list)
    #: filter -> selected entries: the pages of one query select once
    _selected: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.load(self.entries)

    def load(self, entries: list[dict[str, Any]]) -> None:
        """Serve these entries (kept oldest first, as the API orders them)."""
        self.entries = sorted(entries, key=lambda e: (_time(e["timestamp"]), e["insertId"]))
        self._stamps = [_time(e["timestamp"]) for e in self.entries]
        self._selected.clear()

    # --- what the endpoint answers -------------------------------------------------------------

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        """(HTTP status, JSON body, or None to drop the connection); records the request first."""
        text = str(body.get("filter", ""))
        with self._lock:
            fault = self.faults.pop(0) if self.faults else None
        if fault is None and self.fault_for is not None:
            fault = self.fault_for(text)
        self._record(body, fault or "ok")
        if fault == "hang":
            time.sleep(self.hang_s)
        elif fault == "drop":
            return 0, None
        elif fault == "429":
            return 429, _error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for 'Read requests'")
        elif fault == "500":
            return 500, _error(500, "INTERNAL", "Internal error encountered.")
        elif fault == "403":
            message = (
                "Permission 'logging.logEntries.list' denied on resource (or it may not exist)."
            )
            return 403, _error(403, "PERMISSION_DENIED", message)
        if len(text) > 20_000:
            return 400, _error(400, "INVALID_ARGUMENT", "filter longer than 20000 chars")
        page_size = int(body.get("pageSize") or 50)
        if not 0 < page_size <= 1000:
            return 400, _error(400, "INVALID_ARGUMENT", "pageSize must be 1..1000")
        try:
            matches = self.matching(text)
        except FilterError as exc:
            return 400, _error(400, "INVALID_ARGUMENT", f"Invalid filter: {exc}")
        if matches is None:
            return 400, _error(400, "INVALID_ARGUMENT", "no timestamp range in the filter")
        if body.get("orderBy") == "timestamp desc":
            matches.reverse()
        offset = int(str(body.get("pageToken") or "p:0").split(":")[1])
        page: dict[str, Any] = {"entries": matches[offset : offset + page_size]}
        if offset + page_size < len(matches):
            page["nextPageToken"] = f"p:{offset + page_size}"  # omitted on the last page
        return 200, page

    def matching(self, text: str) -> list[dict[str, Any]] | None:
        """The entries the filter selects, oldest first; None when it names no time range.

        Raises FilterError (answered 400) for a filter the API would refuse."""
        if self.visible_from is not None and self.clock() < self.visible_from:
            compile_filter(text)  # a bad filter is refused even before ingestion
            return []
        if text not in self._selected:
            predicate, spans = compile_filter(text)
            if spans is None:
                return None
            inside: set[int] = set()
            for first, last in spans:  # only the entries in the filter's time spans are read
                begin = bisect.bisect_left(self._stamps, first)
                inside.update(range(begin, bisect.bisect_right(self._stamps, last)))
            self._selected[text] = [
                self.entries[i] for i in sorted(inside) if predicate(self.entries[i])
            ]
        return list(self._selected[text])

    def _record(self, body: dict[str, Any], answer: str) -> None:
        seen = Seen(
            filter=str(body.get("filter", "")),
            page_size=int(body.get("pageSize") or 0),
            page_token=body.get("pageToken"),
            order_by=body.get("orderBy"),
            resource_names=tuple(body.get("resourceNames") or ()),
            at=self.clock(),
            answer=answer,
        )
        with self._lock:
            self.requests.append(seen)


def _error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if urlsplit(self.path).path != "/v2/entries:list":
            self.send_error(404)
            return
        status, payload = fake.answer(body)
        if payload is None:  # drop: close without a word
            self.close_connection = True
            return
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `FakeLogging.requests` instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeLogging) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out and left is expected here (the "hang" fault)."""


def serve(fake: FakeLogging) -> Iterator[FakeLogging]:
    """Run `fake` on 127.0.0.1 (a free port) while the generator is suspended."""
    server = _Server(fake)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def fake_logging() -> Iterator[FakeLogging]:
    """A running fake with no entries yet: tests `load` them."""
    yield from serve(FakeLogging())


class FakeClock:
    """Time that moves only when slept: waits are recorded, never spent."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def bulk_entries(
    count: int,
    start: datetime,
    service: str = "chat-backend",
    step_ms: float = 5.0,
    prefix: str = "bulk",
) -> list[dict[str, Any]]:
    """`count` stdout entries of `service` from `start`, `step_ms` apart, as Cloud Run writes."""
    entries = []
    for n in range(count):
        moment = start + timedelta(milliseconds=n * step_ms)
        entries.append(
            {
                "insertId": f"{prefix}-{service}-{n:07d}",
                "logName": "projects/fivewhys-example/logs/run.googleapis.com%2Fstdout",
                "receiveTimestamp": zulu(moment + timedelta(seconds=1)),
                "resource": {
                    "type": "cloud_run_revision",
                    "labels": {
                        "project_id": "fivewhys-example",
                        "service_name": service,
                        "revision_name": f"{service}-00042-xaz",
                        "location": "us-central1",
                        "configuration_name": service,
                    },
                },
                "severity": "INFO" if n % 10 else "WARNING",
                "textPayload": f"handled message {n} for connection_id=conn_{n % 97:012x}",
                "timestamp": zulu(moment),
            }
        )
    return entries


#: what the example app writes for a user's connection (examples/logs/sink.ndjson, from
#: examples/app/app.py): structured stdout with connection_id and user_id fields, and Cloud
#: Run's request log of the socket (LogEntry.httpRequest, trace as `projects/P/traces/T`)
_BUSY_LINES = (
    ("ERROR", "Message handler error: KeyError('agent_name') (connection_id={conn})"),
    ("WARNING", "Slow reply to message for connection_id={conn}: 2.4 s"),
    ("INFO", "Closing connection: main cleanup"),
    ("INFO", "WebSocket connection accepted"),
    ("INFO", "Message processed"),
    ("INFO", None),  # the socket's request log
)


def busy_entries(
    count: int, start: datetime, span_s: float, service: str = "chat-backend"
) -> list[dict[str, Any]]:
    """`count` entries of other users spread over `span_s` from `start`: a third of them
    WARNING or ERROR lines (the same handler error the failures hit: a broken staging fails
    everyone), the rest their closes, accepts, plain INFO lines and request logs."""
    entries = []
    for n in range(count):
        moment = start + timedelta(seconds=span_s * n / count)
        severity, text = _BUSY_LINES[n % len(_BUSY_LINES)]
        conn, user = f"conn_b{n // 6:011x}", f"usr_b{n % 4999:07x}"
        entry: dict[str, Any] = {
            "insertId": f"busy-{n:07d}",
            "receiveTimestamp": zulu(moment + timedelta(seconds=1)),
            "resource": {
                "type": "cloud_run_revision",
                "labels": {
                    "project_id": "fivewhys-example",
                    "service_name": service,
                    "revision_name": f"{service}-00042-xaz",
                    "location": "us-central1",
                    "configuration_name": service,
                },
            },
            "severity": severity,
            "timestamp": zulu(moment),
        }
        if text is None:
            entry["logName"] = "projects/fivewhys-example/logs/run.googleapis.com%2Frequests"
            entry["httpRequest"] = {
                "requestMethod": "GET",
                "requestUrl": "https://chat-backend-abc-uc.a.run.app/ws",
                "status": 101,
                "latency": "0.5s",
            }
            entry["trace"] = f"projects/fivewhys-example/traces/{n:032x}"
        else:
            entry["logName"] = "projects/fivewhys-example/logs/run.googleapis.com%2Fstdout"
            entry["jsonPayload"] = {
                "logger": "chat.ws",
                "message": text.format(conn=conn),
                "connection_id": conn,
                "user_id": user,
            }
        entries.append(entry)
    return entries
