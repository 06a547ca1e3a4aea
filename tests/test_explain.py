"""Rules over correlated lines: which rule explains a failure, with what confidence and whys."""

from __future__ import annotations

from conftest import at, make_failure, make_frame

from fivewhys.config import WindowSettings
from fivewhys.correlate import correlate
from fivewhys.model import Failure
from fivewhys.rules.loader import bundled_rules_dir, load_rules
from fivewhys.whys import build_causes, explain_failures, failure_reports

RULES = load_rules([bundled_rules_dir()], collect_errors=False)
SETTINGS = WindowSettings(before_s=5, after_s=5, skew_s=1)
FACTORY = "Factory SSOT validation failed: user context missing 'thread_id' (connection_id={c})"


def _explain(failures: list[Failure], rows: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    correlation = correlate(failures, make_frame(rows), SETTINGS)
    explained = explain_failures(failures, correlation, RULES, slack_s=1.0, project="p")
    causes = build_causes(explained)
    return explained, causes, failure_reports(explained, causes, correlation)


def test_own_connection_line_proves_the_1011_cause_not_the_neighbours() -> None:
    failure = make_failure(connection_ids=("conn_mine",))
    rows = [
        {
            "insert_id": "other",
            "timestamp": at(1.95),
            "severity": "ERROR",
            "connection_id": "conn_other",
            "message": FACTORY.format(c="conn_other"),
        },
        {
            "insert_id": "mine",
            "timestamp": at(1.9),
            "severity": "ERROR",
            "connection_id": "conn_mine",
            "message": FACTORY.format(c="conn_mine"),
        },
    ]
    explained, causes, reports = _explain([failure], rows)
    assert explained[0].match is not None
    assert explained[0].match.rule.id == "ws-factory-validation-1011"
    assert [e.insert_id for e in reports[0].evidence] == ["mine"]
    assert reports[0].evidence[0].join_key == "connection_id"
    assert reports[0].evidence[0].link is not None
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
    assert [e.insert_id for e in reports[0].evidence] == ["near"]


def test_same_rule_same_template_is_one_cause_for_many_tests() -> None:
    first = make_failure(test_id="t::a", connection_ids=("conn_a",))
    second = make_failure(test_id="t::b", start=3, end=5, connection_ids=("conn_b",))
    rows = [
        {
            "insert_id": "a",
            "timestamp": at(1.9),
            "severity": "ERROR",
            "connection_id": "conn_a",
            "message": FACTORY.format(c="conn_a"),
        },
        {
            "insert_id": "b",
            "timestamp": at(4.9),
            "severity": "ERROR",
            "connection_id": "conn_b",
            "message": FACTORY.format(c="conn_b"),
        },
    ]
    _explained, causes, reports = _explain([first, second], rows)
    assert causes[0] is causes[1]
    assert causes[0].failures == ("t::a", "t::b")
    assert [r.cause_id for r in reports] == ["C1", "C1"]
    assert {e.insert_id for e in causes[0].evidence} == {"a", "b"}


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
    _explained, causes, reports = _explain([failure], rows)
    assert causes == {}
    assert reports[0].cause_id is None
    assert reports[0].note.startswith("No rule matched. Candidate lines joined on connection_id")
