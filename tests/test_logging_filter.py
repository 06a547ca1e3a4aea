"""The fake endpoint's filter evaluator: the query language as Google documents it, and a 400
for what it cannot run (so a narrowing the fake cannot honour fails instead of passing)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from fake_logging import FakeLogging, bulk_entries, serve, zulu
from logging_filter import FilterError, matches, parse, time_spans

from fivewhys.logs.query import after_filter, build_filter
from fivewhys.model import Window

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)

# A Cloud Run stdout entry and a request log, in the LogEntry shape of
# https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry
TEXT = {
    "insertId": "t1",
    "logName": "projects/p/logs/run.googleapis.com%2Fstdout",
    "resource": {"type": "cloud_run_revision", "labels": {"service_name": "chat-backend"}},
    "severity": "WARNING",
    "textPayload": "handler failed for connection_id=conn_abc",
    "timestamp": "2025-03-01T12:00:01.250000Z",
    "labels": {"instanceId": "00a1", "run.googleapis.com/execution": "x"},
}
REQUEST = {
    "insertId": "r1",
    "logName": "projects/p/logs/run.googleapis.com%2Frequests",
    "resource": {"type": "cloud_run_revision", "labels": {"service_name": "auth"}},
    "severity": "ERROR",
    "httpRequest": {"status": 503, "requestUrl": "https://x.run.app/ws", "latency": "0.5s"},
    "trace": "projects/p/traces/abc123",
    "jsonPayload": {"user": {"id": "qa-bot-7"}},
    "timestamp": "2025-03-01T12:00:03Z",
}


def hit(text: str, entry: dict[str, Any]) -> bool:
    return matches(parse(text), entry)


@pytest.mark.parametrize(
    ("text", "text_hit", "request_hit"),
    [
        # NOT > OR > AND: "a" OR NOT "b" AND NOT "c" OR "d" is ("a" OR NOT "b") AND (NOT "c" OR "d")
        ('"conn_abc" OR NOT "handler" AND NOT "qa-bot" OR "nothing"', True, False),
        # read the usual way ((a OR NOT b) AND NOT c) OR d it would select neither; read as
        # a OR (NOT b AND NOT c) OR d it would select the text entry only
        ('"nothing" OR NOT "handler" AND NOT "qa-bot" OR "conn_abc"', False, False),
        ('severity=ERROR OR severity=WARNING AND resource.labels.service_name="auth"', False, True),
        (
            '(severity=ERROR OR severity=WARNING) AND resource.labels.service_name="auth"',
            False,
            True,
        ),
        (
            'severity=ERROR OR (severity=WARNING AND resource.labels.service_name="auth")',
            False,
            True,
        ),
        ("NOT severity=ERROR OR severity=ERROR", True, True),
        ('-"conn_abc"', False, True),
        ('handler "conn_abc"', True, False),  # side by side: AND
        ("severity>=WARNING", True, True),
        ("severity>ERROR", False, False),
        ("severity<=WARNING", True, False),
        ("severity>=400", True, True),
        ("severity!=warning", False, True),  # names ignore case
        ('timestamp>="2025-03-01T12:00:02Z"', False, True),
        ('timestamp>"2025-03-01T13:00:02+01:00"', False, True),  # times, not text
        ('timestamp="2025-03-01T12:00:01.25Z"', True, False),
        ("httpRequest.status>=500", False, True),
        ("httpRequest.status>=60", False, True),  # numbers, not text ("503" < "60" as text)
        ("httpRequest.status:*", False, True),
        ("httpRequest:*", False, True),
        ('textPayload:"CONNECTION_ID=conn"', True, False),  # has: substring, any case
        ('textPayload=~"conn_[a-f]{3}$"', True, False),
        ('textPayload=~"CONN_"', False, False),  # regexes keep case
        ('textPayload!~"conn_"', False, False),  # no textPayload: no comparison holds
        ('NOT textPayload=~"conn_"', False, True),
        ('labels."run.googleapis.com/execution"="x"', True, False),
        ('labels.instanceId="00A1"', True, False),
        ('jsonPayload.user.id="qa-bot-7"', False, True),
        ('jsonPayload:"qa-bot"', False, True),
        ('trace="projects/p/traces/abc123"', False, True),
        ('resource.labels.service_name=("auth" OR "billing")', False, True),
        ("qa-bot-7", False, True),  # a bare word is a global restriction
        ('"503"', False, True),  # global: numbers too
        ('"conn_abd"', False, False),  # near miss
        ('logName:"requests"', False, True),
    ],
)
def test_evaluator_reads_the_query_language(text: str, text_hit: bool, request_hit: bool) -> None:
    assert (hit(text, TEXT), hit(text, REQUEST)) == (text_hit, request_hit)


def test_a_missing_severity_is_default() -> None:
    entry = {k: v for k, v in TEXT.items() if k != "severity"}
    assert hit("severity=DEFAULT", entry)
    assert not hit("severity>=DEBUG", entry)


@pytest.mark.parametrize(
    "text",
    [
        "severity>=",
        "AND severity=ERROR",
        "severity=ERROR OR",
        "(severity=ERROR",
        "severity=ERROR)",
        'nosuchfield="x"',
        "severity>=LOUD",
        'timestamp>="yesterday"',
        'timestamp>="2025-03-01T12:00:00"',  # no zone
        'textPayload=~"(?=conn)"',  # lookahead: not RE2
        'textPayload=~"(a)\\\\1"',  # backreference: not RE2
        'textPayload=~"("',
        '"unterminated',
        "severity==ERROR",
        "labels.=x",
    ],
)
def test_what_it_cannot_run_is_refused(text: str) -> None:
    with pytest.raises(FilterError):
        parse(text)


def test_time_spans_bound_the_search() -> None:
    node = parse(build_filter([Window(start=T0, end=T0 + timedelta(seconds=5))], ["a"]))
    assert time_spans(node) == [(T0, T0 + timedelta(seconds=5))]
    assert time_spans(parse('severity>=ERROR OR timestamp>="2025-03-01T12:00:00Z"')) is None
    assert time_spans(parse("severity>=ERROR")) is None
    assert time_spans(parse(after_filter(T0, ["a"]))) is not None


@pytest.fixture
def fake() -> Iterator[FakeLogging]:
    yield from serve(FakeLogging())


def _post(fake: FakeLogging, log_filter: str) -> requests.Response:
    body: dict[str, Any] = {"resourceNames": ["projects/p"], "filter": log_filter, "pageSize": 1000}
    return requests.post(f"{fake.url}/v2/entries:list", json=body, timeout=10)


def test_the_endpoint_answers_400_invalid_argument(fake: FakeLogging) -> None:
    answer = _post(fake, '(timestamp>="2025-03-01T12:00:00Z") AND nosuch.field="x"')
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert "nosuch" in error["message"]
    assert _post(fake, 'severity>=ERROR AND "x"').status_code == 400  # no time range


def _reference(
    entries: list[dict[str, Any]], windows: list[Window], services: set[str], floor: int
) -> list[str]:
    """What today's full-pull filter asks for, read off the entries directly."""
    ranks = {"INFO": 200, "WARNING": 400, "ERROR": 500}
    out = []
    for entry in entries:
        moment = datetime.fromisoformat(entry["timestamp"])
        if not any(w.start <= moment <= w.end for w in windows):
            continue
        if services and entry["resource"]["labels"]["service_name"] not in services:
            continue
        if ranks[entry["severity"]] < floor:
            continue
        out.append(entry["insertId"])
    return out


@pytest.mark.parametrize("severity", [None, "WARNING", "error"])
def test_full_pull_filters_select_what_they_always_did(
    fake: FakeLogging, severity: str | None
) -> None:
    entries = [
        *bulk_entries(2000, T0, "chat-backend", step_ms=50),
        *bulk_entries(1000, T0, "auth", step_ms=100),
        *bulk_entries(400, T0, "billing", step_ms=300),
    ]
    entries[100]["severity"] = "ERROR"  # 5 s in: inside the first window
    fake.load(entries)
    # two ranges: windows more than a minute apart are not coalesced
    windows = [
        Window(start=T0 + timedelta(seconds=2), end=T0 + timedelta(seconds=9)),
        Window(start=T0 + timedelta(seconds=80), end=T0 + timedelta(seconds=95)),
    ]
    for services in (["chat-backend"], ["auth", "chat-backend"]):
        text = build_filter(windows, services, severity)
        got = fake.matching(text)
        assert got is not None
        floor = {"WARNING": 400, "ERROR": 500}.get((severity or "").upper(), 0)
        want = _reference(fake.entries, windows, set(services), floor)
        assert [e["insertId"] for e in got] == want
        assert want  # the case selects something
    after = fake.matching(after_filter(T0 + timedelta(seconds=110), ["billing"]))
    assert [e["insertId"] for e in after or []] == [
        e["insertId"]
        for e in fake.entries
        if e["resource"]["labels"]["service_name"] == "billing"
        and datetime.fromisoformat(e["timestamp"]) >= T0 + timedelta(seconds=110)
    ]
    assert zulu(T0).endswith("Z")
