"""Search terms read off rule patterns must be necessary: every text a rule's regex matches holds
the terms of one alternative, so a narrow pull that asks for them never misses a line the rule
would take. Matching texts come from hypothesis (`from_regex`), the filter is run by the suite's
evaluator of the Logging query language (tests/logging_filter.py), and near misses stay out."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from logging_filter import compile_filter

from fivewhys.linear_regex import LinearRegex
from fivewhys.logs.query import id_fields_clause, terms_clause
from fivewhys.narrowing import time_clause
from fivewhys.rules.loader import bundled_rules_dir, load_rules
from fivewhys.rules.schema import ServerSelection
from fivewhys.search_terms import contains_terms, regex_terms

RULES = load_rules([bundled_rules_dir()], collect_errors=False)
#: every server regex of the bundled rules whose terms narrow a pull
PATTERNS = sorted(
    {
        s.message_re
        for rule in RULES
        for s in rule.server.values()
        if s.message_re and regex_terms(s.message_re)
    }
)
RANGE = '(timestamp>="2026-01-01T00:00:00Z" AND timestamp<="2026-01-02T00:00:00Z")'


def _entry(message: str, **extra: Any) -> dict[str, Any]:
    """A structured stdout entry as Cloud Run writes it (see examples/logs/sink.ndjson)."""
    return {
        "insertId": "x1",
        "logName": "projects/p/logs/run.googleapis.com%2Fstdout",
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": "s"}},
        "severity": "ERROR",
        "timestamp": "2026-01-01T12:00:00Z",
        "jsonPayload": {"message": message, **extra},
    }


def _selects(clause: str, entry: dict[str, Any]) -> bool:
    predicate, _spans = compile_filter(f"{RANGE} AND ({clause})")
    return predicate(entry)


def test_the_bundled_rules_give_terms() -> None:
    # the selection that made bands read every line now narrows them
    [close] = [
        r.server["cleanup_close"].message_re
        for r in RULES
        if r.id == "ws-handler-error-main-cleanup"
    ]
    assert close is not None
    terms = regex_terms(close)
    assert terms is not None
    assert frozenset({"clos", "connection"}) in terms
    assert len(PATTERNS) >= 10


@pytest.mark.parametrize("pattern", PATTERNS)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_match_holds_an_alternative(pattern: str, data: st.DataObject) -> None:
    text = data.draw(st.from_regex(re.compile(pattern), fullmatch=False))
    if not LinearRegex(pattern).search(text):  # Python and RE2 read a class differently
        return
    terms = regex_terms(pattern)
    assert terms is not None
    held = text.lower()
    assert any(all(term in held for term in alternative) for alternative in terms), text
    # and the filter built from them selects the line, as the API would
    assert _selects(terms_clause(terms), _entry(text))


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"abc(def)?ghi", [frozenset({"abc", "ghi"})]),  # an optional part is not required
        (r"Container called exit\(\d+\)", [frozenset({"container called exit"})]),
        (
            r"(?i)handler.*(raised|threw)",
            [frozenset({"handler", "raised"}), frozenset({"handler", "threw"})],
        ),
        (r"x+yz", None),  # runs shorter than 3 require nothing
        (r"abc|x", None),  # one branch requires nothing: the whole requires nothing
        (r"[[:alpha:]]+ failed", None),  # RE2 syntax Python reads otherwise: nothing
        (r"\pL+ failed", None),
        (r"user <ID> failed", [frozenset({"user ", " failed"})]),  # never a placeholder's piece
        (r"(?i)\bid\b", None),
        (r"caf\u00e9 closed", [frozenset({"caf", " closed"})]),  # only ASCII runs
    ],
)
def test_terms_of_a_pattern(pattern: str, expected: list[frozenset[str]] | None) -> None:
    assert regex_terms(pattern) == expected


def test_contains_needles_are_alternatives() -> None:
    assert contains_terms(["Redis refused", "ECONNREFUSED"]) == [
        frozenset({"econnrefused"}),
        frozenset({"redis refused"}),
    ]
    assert contains_terms(["ok", "Redis refused"]) is None  # "ok" alone is too short to ask


def test_near_misses_stay_out_and_built_messages_stay_in() -> None:
    selection = ServerSelection.model_validate(
        {"message|re": r"(?i)closing connection", "join": ["time"]}
    )
    clause = time_clause([selection])
    assert clause is not None
    assert _selects(clause, _entry("Closing connection: main cleanup"))
    assert not _selects(clause, _entry("Closing the pipe"))  # near misses
    assert not _selects(clause, _entry("connection pool ready"))
    # a message fivewhys builds from fields can hold the words though no field does
    request = _entry("")
    del request["jsonPayload"]
    request["httpRequest"] = {"requestMethod": "GET", "requestUrl": "https://x/closing/connection"}
    assert _selects(clause, request)
    # an object for a message reads as its compact JSON: its values are searched (not its keys)
    assert _selects(clause, _entry({"detail": "closing connection"}))  # type: ignore[arg-type]
    assert _selects(clause, _entry("closing \x1b[1mconnection"))  # colour codes stripped
    no_message = _entry("x")
    no_message["jsonPayload"] = {"event": "closing connection"}
    assert _selects(clause, no_message)


def test_lines_with_others_ids_are_left_out_only_when_they_are_ids() -> None:
    clause = f"NOT {id_fields_clause(['connection_id', 'user_id', 'trace'])}"
    assert not _selects(clause, _entry("m", connection_id="conn_other"))
    assert not _selects(clause, _entry("m", context={"userId": "usr_other"}))
    traced = _entry("m")
    traced["trace"] = "projects/p/traces/" + "a" * 32
    assert not _selects(clause, traced)
    # what logs.entry does not take as an id keeps the line a time candidate
    for value in ("null", " None ", "-", "REDACTED", "", True, 12345):
        assert _selects(clause, _entry("m", connection_id=value)), value
    odd_trace = _entry("m")
    odd_trace["trace"] = "not-a-trace"
    assert _selects(clause, odd_trace)
    assert _selects(clause, _entry("connection_id=conn_in_text"))  # text ids are not fields
    assert id_fields_clause([]) is None
