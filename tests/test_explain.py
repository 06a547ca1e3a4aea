"""Rules over correlated lines: which rule explains a failure, with what confidence and whys."""

from __future__ import annotations

from conftest import at, make_failure, make_frame

from fivewhys.config import WindowSettings
from fivewhys.correlate import correlate
from fivewhys.model import Failure
from fivewhys.rules.loader import bundled_rules_dir, load_rules
from fivewhys.whys import build_causes, explain_failures, failure_lines, failure_reports

RULES = load_rules([bundled_rules_dir()], collect_errors=False)
SETTINGS = WindowSettings(before_s=5, after_s=5, skew_s=1)
FACTORY = "Factory SSOT validation failed: user context missing 'thread_id' (connection_id={c})"


def _factory_line(insert_id: str, at_s: float, connection_id: str) -> dict[str, object]:
    """The server's Factory SSOT error for one connection, `at_s` seconds into the test."""
    return {
        "insert_id": insert_id,
        "timestamp": at(at_s),
        "severity": "ERROR",
        "connection_id": connection_id,
        "message": FACTORY.format(c=connection_id),
    }


def _explain(failures: list[Failure], rows: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    correlation = correlate(failures, make_frame(rows), SETTINGS)
    explained = explain_failures(failures, correlation, RULES, slack_s=1.0, project="p")
    causes = build_causes(explained)
    lines = failure_lines(explained)
    return explained, causes, failure_reports(explained, causes, correlation, lines)


def test_own_connection_line_proves_the_1011_cause_not_the_neighbours() -> None:
    failure = make_failure(connection_ids=("conn_mine",))
    rows = [
        _factory_line("other", 1.95, "conn_other"),
        _factory_line("mine", 1.9, "conn_mine"),
    ]
    explained, causes, reports = _explain([failure], rows)
    assert explained[0].match is not None
    assert explained[0].match.rule.id == "ws-factory-validation-1011"
    assert [e.insert_id for e in reports[0].cites] == ["mine"]
    assert reports[0].cites[0].join_key == "connection_id"
    assert reports[0].candidates == ()  # the neighbour's line is no candidate of a proven failure
    assert [e.insert_id for e in causes[0].evidence] == ["mine"]
    assert causes[0].evidence[0].link is not None
    assert reports[0].confidence >= 0.9
    cause = causes[0]
    assert cause.failures == (failure.test_id,)
    assert [w.kind for w in cause.whys][0] == "evidence"
    assert any("mine" in w.evidence for w in cause.whys)
    assert all(w.evidence == () for w in cause.whys if w.kind == "hypothesis")


def test_time_only_lines_never_make_a_confident_cause() -> None:
    failure = make_failure()  # no ids at all
    rows = [
        {
            "insert_id": "near",
            "timestamp": at(1.9),
            "severity": "ERROR",
            "message": "Factory SSOT validation failed: user context missing 'thread_id'",
        },
    ]
    explained, causes, reports = _explain([failure], rows)
    # the bundled rule joins on ids only, so a time-only line explains nothing
    assert explained[0].match is None
    assert reports[0].cause_id is None
    assert reports[0].confidence == 0.0
    assert "Only time-only candidates" in reports[0].note
    assert [e.insert_id for e in reports[0].candidates] == ["near"]
    assert reports[0].cites == ()


def test_same_rule_same_template_is_one_cause_for_many_tests() -> None:
    first = make_failure(test_id="t::a", connection_ids=("conn_a",))
    second = make_failure(test_id="t::b", start=3, end=5, connection_ids=("conn_b",))
    rows = [
        _factory_line("a", 1.9, "conn_a"),
        _factory_line("b", 4.9, "conn_b"),
    ]
    _explained, causes, reports = _explain([first, second], rows)
    assert causes[0] is causes[1]
    assert causes[0].failures == ("t::a", "t::b")
    assert [r.cause_id for r in reports] == ["C1", "C1"]
    assert {e.insert_id for e in causes[0].evidence} == {"a", "b"}
    assert [[c.insert_id for c in r.cites] for r in reports] == [["a"], ["b"]]


def test_a_line_two_failures_cite_is_listed_once_with_each_ones_own_offset() -> None:
    first = make_failure(test_id="t::a", connection_ids=("conn_a",))
    again = make_failure(test_id="t::a", start=3, end=5, connection_ids=("conn_a",))
    again = again.model_copy(update={"attempt": 2})
    rows = [
        _factory_line("a", 1.9, "conn_a"),
    ]
    _explained, causes, reports = _explain([first, again], rows)
    assert causes[0] is causes[1]
    assert [e.insert_id for e in causes[0].evidence] == ["a"]
    assert [[c.insert_id for c in r.cites] for r in reports] == [["a"], ["a"]]
    offsets = [r.cites[0].offset_s for r in reports]
    assert offsets[0] != offsets[1]  # each failure's own distance to the line
    assert causes[0].evidence[0].offset_s == offsets[0]  # the cause shows its first failure's


def test_a_cause_lists_its_best_ten_first_and_every_line_its_failures_cite() -> None:
    failures = [
        make_failure(
            test_id=f"t::n{n:02d}", start=n * 20, end=n * 20 + 2, connection_ids=(f"conn_{n}",)
        )
        for n in range(12)
    ]
    rows: list[dict[str, object]] = [
        _factory_line(f"line-{n:02d}", n * 20 + 1.9, f"conn_{n}") for n in range(12)
    ]
    _explained, causes, reports = _explain(failures, rows)
    cause = causes[0]
    assert [e.insert_id for e in cause.evidence] == [f"line-{n:02d}" for n in range(12)]
    assert [e.insert_id for e in cause.listed()] == [f"line-{n:02d}" for n in range(10)]
    assert [r.cites[0].insert_id for r in reports] == [f"line-{n:02d}" for n in range(12)]


def test_test_side_assertion_gets_no_server_cause() -> None:
    failure = make_failure(
        message="AssertionError: assert 'timestamp' in {'type': 'pong'}",
        connection_ids=("conn_ok",),
    )
    rows = [
        {
            "insert_id": "ping",
            "timestamp": at(1.0),
            "severity": "INFO",
            "connection_id": "conn_ok",
            "message": "ping from conn_ok",
        },
    ]
    explained, causes, reports = _explain([failure], rows)
    assert causes == {}
    assert explained[0].bucket == "client-side"
    report = reports[0]
    assert (report.cause_id, report.bucket, report.rule_id, report.confidence) == (
        None,
        "client-side",
        "client-side-test-failure",
        0.0,
    )
    assert report.note.startswith(
        "Client-side (rule client-side-test-failure): tests/e2e/test_chat.py::test_x failed in "
        "its test body with AssertionError, and the client saw no HTTP status"
    )
    assert [e.insert_id for e in report.candidates] == ["ping"]


def test_assertion_with_a_keyed_server_error_goes_to_the_server_error_bucket() -> None:
    failure = make_failure(message="AssertionError: assert 'error' == 'chat'", user_ids=("u1",))
    rows = [
        {"insert_id": "info", "timestamp": at(1.0), "severity": "INFO", "user_id": "u1"},
        {
            "insert_id": "boom",
            "timestamp": at(1.5),
            "severity": "ERROR",
            "user_id": "u1",
            "message": "Reply serialization failed: datetime is not JSON serializable",
        },
    ]
    _explained, causes, reports = _explain([failure], rows)
    assert causes == {}
    report = reports[0]
    assert (report.cause_id, report.bucket, report.rule_id) == (
        None,
        "server-error",
        "server-error-no-rule",
    )
    assert report.candidates[0].insert_id == "boom"
    assert report.candidates[0].matched is not None  # the bucket's rule matched it
    assert report.note.startswith(
        "Server error, no rule (rule server-error-no-rule): The server logged an error for this "
        'test (joined on user_id): "Reply serialization failed'
    )


def test_a_network_failure_without_keyed_error_stays_unexplained() -> None:
    failure = make_failure(connection_ids=("conn_a",))  # a 1011, nothing logged for it
    rows = [{"insert_id": "n", "timestamp": at(1.0), "severity": "INFO", "connection_id": "conn_a"}]
    _explained, causes, reports = _explain([failure], rows)
    assert causes == {}
    assert (reports[0].bucket, reports[0].rule_id) == ("unexplained", None)
    assert reports[0].note.startswith("No rule matched. Candidate lines joined on connection_id")


def test_the_two_1011_causes_stay_apart() -> None:
    setup = make_failure(test_id="t::setup", connection_ids=("conn_s",))
    agent = make_failure(test_id="t::agent", start=3, end=5, connection_ids=("conn_a",))
    rows = [
        _factory_line("factory", 1.9, "conn_s"),
        {
            "insert_id": "agent",
            "timestamp": at(4.9),
            "severity": "ERROR",
            "connection_id": "conn_a",
            "message": "Agent 'planner' timed out after 2.0s (connection_id=conn_a)",
        },
    ]
    _explained, causes, reports = _explain([setup, agent], rows)
    assert causes[0] is not causes[1]
    assert (causes[0].rule_id, causes[1].rule_id) == (
        "ws-factory-validation-1011",
        "ws-agent-handler-1011",
    )
    assert [r.cites[0].insert_id for r in reports] == ["factory", "agent"]
    assert all(r.bucket == "cause" for r in reports)


# --- chains ------------------------------------------------------------------------------------

SERVER_500 = (
    "httpx.HTTPStatusError: Server error '500 Internal Server Error' for url "
    "'https://svc.example/api/discovery/services'"
)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OLD, NEW = "chat-backend-00042-xaz", "chat-backend-00043-bad"


def _dependency_rows(
    env_revision: str | None, refused_keyed: bool = True
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {
            "insert_id": "error-500",
            "timestamp": at(1.9),
            "severity": "ERROR",
            "kind": "request",
            "http_status": 500,
            "http_method": "GET",
            "http_path": "/api/discovery/services",
            "trace": TRACE,
            "message": "GET /api/discovery/services 500 0.004s",
        },
        {
            "insert_id": "refused",
            "timestamp": at(1.91),
            "severity": "ERROR",
            "trace": TRACE if refused_keyed else None,
            "message": "Discovery failed: ConnectionRefusedError(111, 'Connect call failed')",
        },
    ]
    if env_revision is not None:
        rows.append(
            {
                "insert_id": "env",
                "timestamp": at(-3.0),
                "severity": "WARNING",
                "revision": env_revision,
                "message": "REDIS_HOST is not set; falling back to localhost:6379",
            }
        )
    return rows


def test_a_confirmed_deeper_rule_replaces_the_hypotheses() -> None:
    failure = make_failure(message=SERVER_500, traces=(TRACE,))
    explained, causes, _reports = _explain([failure], _dependency_rows(OLD))
    assert [link.rule.id for link in explained[0].chain.links] == ["config-env-var-missing"]
    cause = causes[0]
    assert cause.rule_id == "http-5xx-dependency-refused"
    # two proven whys of the 5xx rule, then the deeper rule's three (evidence, mechanism, question)
    assert [w.kind for w in cause.whys] == [
        "evidence",
        "evidence",
        "evidence",
        "mechanism",
        "question",
    ]
    assert cause.whys[2].evidence == ("env",)
    assert cause.whys[2].text.startswith(
        'Revision chat-backend-00042-xaz started without a setting it needs: "REDIS_HOST is not '
        'set; falling back to localhost:6379"'
    )
    assert {e.insert_id for e in cause.evidence} == {"error-500", "refused", "env"}
    assert cause.confidence >= 0.8


def test_without_deeper_evidence_the_chain_stops_with_a_marked_hypothesis() -> None:
    failure = make_failure(message=SERVER_500, traces=(TRACE,))
    explained, causes, _reports = _explain([failure], _dependency_rows(None))
    assert explained[0].chain.links == ()
    whys = causes[0].whys
    # the 5xx rule's four whys (two proven, a mechanism, a question), then where the chain stops
    assert [w.kind for w in whys] == ["evidence", "evidence", "mechanism", "question", "question"]
    assert whys[-1].evidence == ()
    assert whys[-1].text == (
        "Is there a deeper cause: The revision started without a setting it needs (an "
        "environment variable was not set) (config-env-var-missing)? No log line of this "
        "revision in the window shows one; its own lines (the platform's system log, the app's "
        "startup) would."
    )


def test_a_deeper_rule_only_cites_the_revision_that_failed() -> None:
    failure = make_failure(message=SERVER_500, traces=(TRACE,))
    explained, _causes, _reports = _explain([failure], _dependency_rows(NEW))
    assert explained[0].chain.links == ()
    assert [r.id for r in explained[0].chain.unconfirmed] == ["config-env-var-missing"]


def test_a_cause_is_only_as_well_joined_as_its_weakest_required_line() -> None:
    keyed = make_failure(message=SERVER_500, traces=(TRACE,))
    _e, _c, strong = _explain([keyed], _dependency_rows(None, refused_keyed=True))
    _e, _c, weak = _explain([keyed], _dependency_rows(None, refused_keyed=False))
    assert strong[0].confidence >= 0.8
    assert strong[0].note == "Proven by a line joined on trace."
    assert weak[0].confidence <= 0.4
    assert weak[0].note == (
        "Proven by a line joined on trace, but the refused line joins by time only. Tentative: "
        "joined by time and the 500 request log on the same instance, not by an id; confirm by "
        "hand."
    )
