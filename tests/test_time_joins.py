"""Causes proven by time on servers that log no ids, and the shared e2e user: what may join a
failure when no id ties a line to it, how such a cause is capped and labelled, and which lines
belong to another test of the run."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from conftest import T0, at, make_failure

from fivewhys.authoring.explain import explain_rule
from fivewhys.config import WindowSettings
from fivewhys.correlate import correlate
from fivewhys.logs.entry import build_frame, normalize_entries
from fivewhys.model import Cause, Failure, RunInterval
from fivewhys.pipeline import Analysis, OutputFormat, analyze, render
from fivewhys.results.common import section
from fivewhys.rules.loader import load_rules
from fivewhys.whys import (
    TIME_ONLY_CAP,
    Explained,
    build_causes,
    candidates_by_failure,
    explain_failures,
)

DATA = Path(__file__).parent / "data"
REAL_LOGS = DATA / "logs" / "real" / "cloudrun-entries.ndjson"
REAL_403_RUN = DATA / "results" / "real" / "junit_20250907T152209Z_http403.xml"
TIME_RULES = DATA / "rules_time"
HANDSHAKE_403 = (
    "websockets.exceptions.InvalidStatus: server rejected WebSocket connection: HTTP 403"
)
RUN = "run.googleapis.com"
RESOURCE = {
    "type": "cloud_run_revision",
    "labels": {"service_name": "chat", "revision_name": "chat-00042-xaz"},
}


def _replayed_403_run(tmp_path: Path) -> Path:
    """The real 403 run (tests/data/results/real), its suite clock moved 2 h 1 min 2.672854 s
    back: its first handshake 403 then ends at 13:21:31.660Z, the second in which the same
    suite's e2e client (user agent Netra-E2E-Tests/1.0) got five `GET /ws` 403s from the real
    backend, which logged "WebSocket connection rejected in staging: Invalid JWT=REDACTED"
    beside each (tests/data/logs/real, lines 71-95). Nothing else of the file changes."""
    moved = REAL_403_RUN.read_bytes().replace(
        b'timestamp="2025-09-07T08:22:09.519854-07:00"',
        b'timestamp="2025-09-07T06:21:06.847000-07:00"',
    )
    path = tmp_path / "junit_replayed.xml"
    path.write_bytes(moved)
    return path


def test_the_real_403_joined_by_time_is_a_capped_labelled_cause(tmp_path: Path) -> None:
    report = analyze(
        Analysis(
            results=[_replayed_403_run(tmp_path)], logs=[str(REAL_LOGS)], rule_dirs=[TIME_RULES]
        )
    )
    first = report.failures[0]
    assert first.test_id.endswith("::test_websocket_connection")
    cause = next(c for c in report.causes if c.id == first.cause_id)
    assert cause.tentative and not cause.generic
    assert cause.confidence <= TIME_ONLY_CAP
    assert cause.proof == (
        "tentative: joined by time and the 403 request log on the same instance, not by an id"
    )
    assert "Tentative: joined by time and the 403 request log" in first.note
    messages = [line.message for line in cause.evidence]
    assert "WebSocket connection rejected in staging: Invalid JWT=REDACTED" in messages
    assert all(line.join_key == "time" for line in cause.evidence)
    # the capture holds no audit entry: the chain ends asking which deploy made the revision
    assert [w.kind for w in cause.whys] == ["evidence", "evidence", "question", "question"]
    assert "No Cloud Run audit entry was read" in cause.whys[-1].text
    # every format says so
    assert "(tentative)" in render(report, OutputFormat.MARKDOWN)
    assert "tentative: joined by time and the 403 request log" in render(report, OutputFormat.HTML)
    data = json.loads(render(report, OutputFormat.JSON))
    assert data["schema_version"] == "1.5"
    assert [c["tentative"] for c in data["causes"] if c["id"] == cause.id] == [True]


def test_without_its_request_log_the_time_joined_warning_proves_nothing(tmp_path: Path) -> None:
    """The same run and logs less the request logs: the warnings stand alone, and a line joined
    by time only counts only beside a line of its corroborated_by selection."""
    kept = [
        line
        for line in REAL_LOGS.read_text(encoding="utf-8").splitlines()
        if "%2Frequests" not in line
    ]
    logs = tmp_path / "no-requests.ndjson"
    logs.write_text("\n".join(kept) + "\n", encoding="utf-8")
    report = analyze(
        Analysis(results=[_replayed_403_run(tmp_path)], logs=[str(logs)], rule_dirs=[TIME_RULES])
    )
    assert all(c.rule_id != "ws-auth-rejected-by-time" for c in report.causes)


# --- the same semantics on LogEntry shapes built for each case ---------------------------------


def _entry(insert_id: str, seconds: float, **fields: Any) -> dict[str, Any]:
    """A Cloud Run LogEntry (REST shape: docs LogEntry) at T0 + seconds."""
    log = fields.pop("log", "stdout")
    entry = {
        "insertId": insert_id,
        "logName": f"projects/p/logs/{RUN}%2F{log}",
        "resource": RESOURCE,
        "timestamp": (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z"),
        "labels": {"instanceId": fields.pop("instance", "inst-a")},
    }
    entry.update(fields)
    return entry


def _request(insert_id: str, seconds: float, status: int, path: str = "/ws", **extra: Any) -> Any:
    agent = extra.pop("agent", "Python/3.11 websockets/17.4")
    return _entry(
        insert_id,
        seconds,
        log="requests",
        severity="WARNING" if status >= 400 else "INFO",
        httpRequest={
            "requestMethod": "GET",
            "requestUrl": f"https://chat-x.a.run.app{path}",
            "status": status,
            "latency": "0.002s",
            "userAgent": agent,
        },
        **extra,
    )


def _warning(insert_id: str, seconds: float, text: str, **extra: Any) -> Any:
    return _entry(insert_id, seconds, log="stderr", severity="WARNING", textPayload=text, **extra)


def _explain(
    failures: list[Failure],
    entries: list[dict[str, Any]],
    intervals: list[RunInterval] | None = None,
    rule_dirs: tuple[Path, ...] = (TIME_RULES,),
) -> tuple[list[Explained], dict[int, Cause]]:
    batch = normalize_entries((f"e[{n}]", e) for n, e in enumerate(entries))
    frame, _ = build_frame([batch])
    settings = WindowSettings()
    correlation = correlate(failures, frame, settings, intervals=intervals or ())
    rules = load_rules(list(rule_dirs), collect_errors=False)
    explained = explain_failures(failures, correlation, rules, slack_s=settings.skew_s)
    return explained, build_causes(explained)


def _handshake_failure(start: float = 0.0, end: float = 0.4, **ids: tuple[str, ...]) -> Failure:
    return make_failure(
        test_id="tests/e2e/test_ws.py::test_handshake", message=HANDSHAKE_403, start=start, end=end
    ).model_copy(update={"ids": make_failure(**ids).ids})


def test_a_request_log_that_contradicts_the_client_never_joins() -> None:
    """The warning's only neighbour is a 500 (not what the client saw): no corroboration."""
    failure = _handshake_failure()
    entries = [
        _request("req-500", 0.30, 500),
        _warning("warn", 0.31, "connection rejected: invalid token"),
    ]
    explained, causes = _explain([failure], entries)
    assert causes == {}
    assert all(c.line["insert_id"] != "req-500" for c in explained[0].candidates)


def test_a_request_of_another_path_or_user_agent_does_not_corroborate() -> None:
    for request in (
        _request("req", 0.30, 403, path="/api/threads"),
        _request("req", 0.30, 403, agent="Mozilla/5.0"),
    ):
        failure = _handshake_failure()
        failure = failure.model_copy(
            update={
                "event": failure.event.model_copy(
                    update={"url_path": "/ws", "user_agent": "Python/3.11 websockets/17.4"}
                )
            }
        )
        entries = [request, _warning("warn", 0.31, "connection rejected: invalid token")]
        _explained, causes = _explain([failure], entries)
        assert causes == {}, request


def test_corroboration_wants_the_same_second_and_instance() -> None:
    failure = _handshake_failure(end=3.0)
    far = [_request("req", 0.5, 403), _warning("warn", 2.9, "connection rejected: invalid token")]
    elsewhere = [
        _request("req", 2.8, 403, instance="inst-b"),
        _warning("warn", 2.9, "connection rejected: invalid token", instance="inst-a"),
    ]
    beside = [
        _request("req", 2.8, 403),
        _warning("warn", 2.9, "connection rejected: invalid token"),
    ]
    assert _explain([failure], far)[1] == {}
    assert _explain([failure], elsewhere)[1] == {}
    causes = _explain([failure], beside)[1]
    assert causes[0].tentative and causes[0].confidence <= TIME_ONLY_CAP
    assert causes[0].proof == (
        "tentative: joined by time and the 403 request log on the same instance, not by an id"
    )


def test_the_clients_own_user_agent_is_named_as_corroboration() -> None:
    failure = _handshake_failure()
    event = failure.event.model_copy(update={"user_agent": "Netra-E2E-Tests/1.0"})
    failure = failure.model_copy(update={"event": event})
    entries = [
        _request("req", 0.30, 403, agent="Netra-E2E-Tests/1.0"),
        _warning("warn", 0.31, "WebSocket connection rejected in staging: Invalid JWT"),
    ]
    causes = _explain([failure], entries)[1]
    assert causes[0].proof == (
        "tentative: joined by time and the 403 request log on the same instance and the "
        "client's user agent, not by an id"
    )


def test_a_line_of_another_tests_interval_never_builds_the_cause() -> None:
    """The previous test (passed) got the 403 and its warning; this one failed later, with the
    lines inside its pad but not its own interval."""
    failure = _handshake_failure(start=5.0, end=5.4)
    entries = [_request("req", 2.0, 403), _warning("warn", 2.01, "connection rejected: bad token")]
    intervals = [
        RunInterval(test_id="tests/e2e/test_ws.py::test_before", start=at(1.5), end=at(2.5)),
        RunInterval(test_id=failure.test_id, start=at(5.0), end=at(5.4)),
    ]
    assert _explain([failure], entries)[1], "without the intervals the lines would join"
    explained, causes = _explain([failure], entries, intervals)
    assert causes == {}
    assert explained[0].candidates == ()


def test_a_keyed_cause_is_preferred_to_a_tentative_one() -> None:
    """The time-joined rule has the higher priority, but the bundled auth rule proves the
    failure by its trace: the keyed cause wins."""
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    failure = _handshake_failure(traces=(trace,))
    entries = [
        _request("req", 0.30, 403, trace=f"projects/p/traces/{trace}"),
        _warning("warn-time", 0.31, "connection rejected: invalid token"),
        _entry(
            "auth-keyed",
            0.32,
            severity="WARNING",
            trace=f"projects/p/traces/{trace}",
            jsonPayload={"message": "WebSocket auth rejected: JWT expired"},
        ),
    ]
    from fivewhys.rules.loader import bundled_rules_dir

    explained, causes = _explain([failure], entries, rule_dirs=(bundled_rules_dir(), TIME_RULES))
    assert explained[0].match is not None
    assert not explained[0].match.tentative
    assert not causes[0].tentative


# --- the shared e2e user --------------------------------------------------------------------


def _shared_user_run() -> tuple[Failure, list[dict[str, Any]], list[RunInterval]]:
    """The measured case: a 403 failure whose user is shared with the test before it, which
    passed; that test's INFO "session ready" for the user lies 2 s before the failure."""
    failure = _handshake_failure(start=3.6, end=4.0, user_ids=("usr_e2e_01",))
    entries = [
        _entry(
            "session-ready",
            2.0,
            severity="INFO",
            jsonPayload={"message": "session ready for user usr_e2e_01", "user_id": "usr_e2e_01"},
        ),
        _entry(
            "auth-rejected",
            3.9,
            severity="WARNING",
            jsonPayload={"message": "token rejected: signature expired", "user_id": "usr_e2e_01"},
        ),
    ]
    intervals = [
        RunInterval(test_id="tests/e2e/test_ws.py::test_session", start=at(0.5), end=at(3.5)),
        RunInterval(test_id=failure.test_id, start=at(3.6), end=at(4.0)),
    ]
    return failure, entries, intervals


def test_a_user_id_line_of_the_previous_test_belongs_to_it() -> None:
    failure, entries, intervals = _shared_user_run()
    alone = _explain([failure], entries)[0][0]
    assert [c.line["insert_id"] for c in alone.candidates] == ["auth-rejected", "session-ready"]
    explained = _explain([failure], entries, intervals)[0][0]
    assert [c.line["insert_id"] for c in explained.candidates] == ["auth-rejected"]


def test_a_test_known_to_have_another_user_does_not_take_the_line() -> None:
    """The test before ran as another user (its own failure says so): the line is this one's."""
    failure, entries, intervals = _shared_user_run()
    before = make_failure(
        test_id="tests/e2e/test_ws.py::test_session", start=0.5, end=3.5, user_ids=("usr_other",)
    )
    explained = _explain([before, failure], entries, intervals)[0]
    assert [c.line["insert_id"] for c in explained[1].candidates] == [
        "auth-rejected",
        "session-ready",
    ]


def test_own_interval_lines_outrank_the_pad() -> None:
    """A WARNING of the pad (between tests, no test running) ranks after an INFO of the failure's
    own interval, both joined by user_id."""
    failure = _handshake_failure(start=10.0, end=12.0, user_ids=("usr_e2e_01",))
    entries = [
        _entry(
            "pad-warning",
            6.0,
            severity="WARNING",
            jsonPayload={"message": "slow query", "user_id": "usr_e2e_01"},
        ),
        _entry(
            "own-info",
            11.0,
            severity="INFO",
            jsonPayload={"message": "opening socket", "user_id": "usr_e2e_01"},
        ),
    ]
    intervals = [RunInterval(test_id=failure.test_id, start=at(10.0), end=at(12.0))]
    explained = _explain([failure], entries, intervals)[0][0]
    assert [c.line["insert_id"] for c in explained.candidates] == ["own-info", "pad-warning"]


# --- client facts the server line answers ---------------------------------------------------


def _with_output(failure: Failure, output: str) -> Failure:
    """The failure with pytest's captured stdout, as the results readers keep it."""
    return failure.model_copy(update={"details": section("Captured stdout call", output)})


def test_the_tests_own_output_is_cited_where_the_server_line_answers_it() -> None:
    output = (
        "connecting as usr_e2e_01\n"
        "Using JWT_SECRET_KEY from .env.staging (audience: netra-staging)\n"
        "GET wss://chat-x.a.run.app/ws\n"
        "GET https://chat-x.a.run.app/health -> 200\n"
    )
    failure = _with_output(_handshake_failure(), output)
    entries = [_request("req", 0.30, 403), _warning("warn", 0.31, "connection rejected: bad JWT")]
    cause = _explain([failure], entries)[1][0]
    clients = [why for why in cause.whys if why.client]
    assert [why.kind for why in clients] == ["evidence", "evidence"]
    assert all(why.client == failure.source for why in clients)
    assert "JWT_SECRET_KEY from .env.staging (audience: netra-staging)" in clients[0].text
    assert "wss://chat-x.a.run.app/ws" in clients[1].text
    kinds = [why.kind for why in cause.whys]
    assert kinds == ["evidence", "evidence", "evidence", "evidence", "question"]


def test_a_credential_line_is_no_clue_beside_a_line_about_something_else() -> None:
    failure = make_failure(
        message="websockets.exceptions.ConnectionClosedError: received 1011 (internal error)",
        connection_ids=("conn_8e2091c99d64",),
    )
    failure = _with_output(failure, "Using JWT_SECRET_KEY from .env.staging\n")
    entries = [
        _entry(
            "err",
            1.9,
            severity="ERROR",
            jsonPayload={"message": "Redis pool exhausted", "connection_id": "conn_8e2091c99d64"},
        )
    ]
    cause = _explain([failure], entries)[1][0]
    assert cause.generic
    assert [why.client for why in cause.whys if why.client] == [failure.source]  # its own message


def test_rules_explain_says_which_field_contradicts_the_client() -> None:
    failure = _handshake_failure()
    event = failure.event.model_copy(update={"user_agent": "Netra-E2E-Tests/1.0"})
    failure = failure.model_copy(update={"event": event})
    batch = normalize_entries([("e[0]", _request("req", 0.30, 403, agent="Mozilla/5.0"))])
    frame, _ = build_frame([batch])
    settings = WindowSettings()
    correlation = correlate([failure], frame, settings)
    candidates = candidates_by_failure(correlation, 1, None)[0]
    rules = load_rules([TIME_RULES], collect_errors=False)
    report = explain_rule(rules[0], failure, candidates, rules, settings.skew_s)
    verdict = report.selections[1].verdicts[0]
    assert (verdict.step, verdict.detail) == (
        "fields",
        "joined by time only, and its user_agent contradicts what the client saw",
    )
