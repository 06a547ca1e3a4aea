"""The matcher: fuzzy matching on distinct masked templates, per-selection thresholds, absent
selections, request latency, the network-event test, and cause rules before fallback rules."""

from __future__ import annotations

from typing import Any

import pytest
import rapidfuzz.process
from conftest import T0, at, make_failure

from fivewhys.ids import mask
from fivewhys.model import Evidence
from fivewhys.rules import matcher
from fivewhys.rules.matcher import (
    Candidate,
    fuzzy_scores,
    in_matching_order,
    match_rule,
    match_rules,
    network_event,
    select,
)
from fivewhys.rules.schema import Rule, ServerSelection
from fivewhys.whys import confidence


def _line(insert_id: str, message: str, **fields: Any) -> Candidate:
    latency = fields.pop("latency_s", None)
    evidence = Evidence(
        insert_id=insert_id,
        timestamp=fields.pop("timestamp", at(1.0)),
        kind=fields.pop("kind", "stdout"),
        message=message,
        template=mask(message),
        join_key=fields.pop("join_key", "connection_id"),
        offset_s=fields.pop("offset_s", -1.0),
        **fields,
    )
    return Candidate.of(evidence, evidence.offset_s + (latency or 0.0), latency)


def _rule(**overrides: Any) -> Rule:
    data: dict[str, Any] = {
        "id": "r",
        "title": "t",
        "level": "low",
        "client": {"close_code": 1011},
        "whys": [{"text": "w"}],
    }
    data.update(overrides)
    return Rule.model_validate(data)


EXPIRED = "WebSocket auth rejected: JWT expired for user_id={u}"


def test_fuzzy_scores_each_distinct_template_once(monkeypatch: pytest.MonkeyPatch) -> None:
    scored: list[list[str]] = []
    real_extract = rapidfuzz.process.extract

    def spy(query: str, choices: list[str], **kwargs: Any) -> Any:
        scored.append(list(choices))
        return real_extract(query, choices, **kwargs)

    monkeypatch.setattr(rapidfuzz.process, "extract", spy)
    matcher._FUZZY.clear()
    selection = ServerSelection.model_validate(
        {"message|fuzzy": "WebSocket auth rejected: JWT expired", "join": "connection_id"}
    )
    lines = [_line(f"a{i}", EXPIRED.format(u=f"usr_{i:04d}")) for i in range(50)]
    lines += [_line(f"b{i}", f"Heartbeat sweep: {i} active connections") for i in range(50)]
    hits = select(selection, "auth", lines, slack_s=0.0)
    assert [h.insert_id for h in hits] == [f"a{i}" for i in range(50)]
    assert all(h.score == 1.0 and h.matched == "auth" for h in hits)
    # 100 lines, 2 templates: one batch of 2 choices, and nothing again for the same templates
    assert len(scored) == 1 and len(scored[0]) == 2
    select(selection, "auth", lines, slack_s=0.0)
    assert len(scored) == 1


def test_fuzzy_patterns_are_masked_like_the_templates() -> None:
    # the author pasted a real line, ids and all: it still matches other users' lines
    pattern = "WebSocket auth rejected: JWT expired for user_id=usr_1907ff57"
    scores = fuzzy_scores(pattern, [mask(EXPIRED.format(u="usr_00aa11bb"))])
    assert list(scores.values()) == [100.0]


@pytest.mark.parametrize(("threshold", "matches"), [(70, True), (95, False)])
def test_the_threshold_is_the_selections_own(threshold: float, matches: bool) -> None:
    selection = ServerSelection.model_validate(
        {
            "message|fuzzy": "auth rejected: token expired",
            "threshold": threshold,
            "join": "connection_id",
        }
    )
    line = _line("x", EXPIRED.format(u="usr_1"))
    ratio = fuzzy_scores("auth rejected: token expired", [line.evidence.template])
    assert 70 < next(iter(ratio.values())) < 95
    assert bool(select(selection, "s", [line], 0.0)) is matches


def test_a_looser_fuzzy_match_lowers_the_confidence() -> None:
    failure = make_failure(connection_ids=("c",))
    line = [_line("x", EXPIRED.format(u="usr_1"))]
    exact = _rule(server={"s": {"message|contains": "auth rejected", "join": "connection_id"}})
    loose = _rule(server={"s": {"message|fuzzy": "auth rejected: token expired", "threshold": 70}})
    found_exact = match_rule(exact, failure, line, 0.0)
    found_loose = match_rule(loose, failure, line, 0.0)
    assert found_exact is not None and found_loose is not None
    assert found_loose.score < 1.0 == found_exact.score
    assert confidence(found_loose) < confidence(found_exact)


def test_contains_and_re_also_read_the_raw_message() -> None:
    # an exit code stays literal in the template (ids.mask); the duration does not
    exit_line = _line("x", "Container called exit(3) after 120 s.", kind="system", join_key="time")
    assert exit_line.evidence.template == "Container called exit(3) after <NUM> s."
    literal = ServerSelection.model_validate(
        {"message|contains": "after 120 s", "kind": "system", "join": "time"}
    )
    masked = ServerSelection.model_validate(
        {"message|re": r"after <NUM> s", "kind": "system", "join": "time"}
    )
    assert select(literal, "s", [exit_line], 0.0) and select(masked, "s", [exit_line], 0.0)


def test_an_absent_selection_vetoes_the_rule() -> None:
    rule = _rule(
        client={"network_event": False},
        server={"err": {"severity|min": "ERROR", "join": "connection_id", "absent": True}},
    )
    failure = make_failure(message="AssertionError: assert 1 == 2", connection_ids=("c",))
    quiet = [_line("i", "fine", severity="INFO")]
    loud = [*quiet, _line("e", "boom", severity="ERROR")]
    found = match_rule(rule, failure, quiet, 0.0)
    assert found is not None and found.hits == {} and found.primary is None
    assert match_rule(rule, failure, loud, 0.0) is None


def test_request_latency_is_a_field() -> None:
    selection = ServerSelection.model_validate(
        {"kind": "request", "http_latency|min": "300s", "join": "trace"}
    )
    long_ws = _line("l", "GET /ws 101", kind="request", join_key="trace", latency_s=300.2)
    short_ws = _line("s", "GET /ws 101", kind="request", join_key="trace", latency_s=12.0)
    stdout = _line("o", "GET /ws 101", join_key="trace")
    assert [h.insert_id for h in select(selection, "s", [long_ws, short_ws, stdout], 0.0)] == ["l"]


@pytest.mark.parametrize(
    ("message", "details", "expected"),
    [
        ("AssertionError: assert 'timestamp' in reply", "", False),
        ("KeyError: 'FIVEWHYS_ADMIN_TOKEN'", "", False),
        ("AssertionError: assert 500 == 200", "E  + where 500 = <Response [500 Int", True),
        ("httpx.ReadTimeout: timed out", "", True),
        ("httpx.ConnectError: All connection attempts failed", "", True),
        (
            "websockets.exceptions.InvalidStatus: server rejected WebSocket connection: HTTP 403",
            "",
            True,
        ),
        ("TimeoutError: timed out during opening handshake", "", True),
    ],
)
def test_network_event(message: str, details: str, expected: bool) -> None:
    failure = make_failure(message=message).model_copy(update={"details": details})
    assert network_event(failure) is expected


def test_fallback_rules_come_after_every_cause_rule() -> None:
    fallback = _rule(
        id="bucket", priority=1000, bucket="server-error", client={"outcome": "failed"}
    )
    cause = _rule(id="cause", priority=1)
    assert [r.id for r in in_matching_order([fallback, cause])] == ["cause", "bucket"]
    failure = make_failure()
    found = match_rules([fallback, cause], failure, [], 0.0)
    assert found is not None and found.rule.id == "cause"


def test_time_relation_uses_the_line_interval() -> None:
    selection = ServerSelection.model_validate(
        {"kind": "request", "join": "trace", "within": {"before": "2s", "after": "1s"}}
    )
    # a WebSocket request log that started 60 s before the failure but ended at it
    spanning = _line(
        "w",
        "GET /ws 101",
        kind="request",
        join_key="trace",
        offset_s=-60.0,
        latency_s=60.0,
        timestamp=T0,
    )
    ended_early = _line(
        "e",
        "GET /ws 101",
        kind="request",
        join_key="trace",
        offset_s=-60.0,
        latency_s=50.0,
        timestamp=T0,
    )
    assert [h.insert_id for h in select(selection, "s", [spanning, ended_early], 0.0)] == ["w"]
