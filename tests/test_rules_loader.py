"""Rule format and loader: bundled rules load, every broken file is reported at its line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from fivewhys.errors import RuleError, RuleErrors
from fivewhys.model import ClientEvent, Evidence, Failure
from fivewhys.rules.loader import bundled_rules_dir, load_rule_file, load_rules
from fivewhys.rules.matcher import in_matching_order
from fivewhys.rules.schema import (
    ClientSelection,
    Rule,
    ServerSelection,
    TimeRelation,
    why_environment,
)

DATA = Path(__file__).parent / "data"
BROKEN = DATA / "rules_broken"
GOOD = DATA / "rules_good"

ALLOWED_SERVER_KEYS = (
    "message|contains, message|re, message|fuzzy, threshold, severity, severity|min, kind, "
    "http_status, http_path|contains, http_method, http_latency|min, join, within, required, "
    "same_instance, absent, corroborated_by"
)

#: (file name, line, message) of every problem in tests/data/rules_broken, in report order
BROKEN_EXPECTED = [
    (
        "absent-cited.yaml",
        12,
        "whys[0].evidence: 'no_error' is an absent selection: no line of it can be cited",
    ),
    (
        "bad-bucket.yaml",
        6,
        "bucket: must be one of 'client-side' or 'server-error', got 'test-side'",
    ),
    (
        "bad-bucket.yaml",
        7,
        "client.phase[0]: must be one of 'setup', 'call' or 'teardown', got 'body'",
    ),
    (
        "bad-bucket.yaml",
        11,
        "server.slow.http_latency|min: must be a duration like 500ms, 5s or 2m, got 'forever'",
    ),
    (
        "bad-bucket.yaml",
        15,
        "server.quiet.required: an absent selection is a condition: it cannot be optional",
    ),
    ("bad-jinja.yaml", 9, "whys[1].text: invalid template (line 1): unexpected '}'"),
    (
        "bad-regex.yaml",
        6,
        "client.message|re: invalid regular expression 'received (1011': missing ): received (1011",
    ),
    (
        "bad-threshold.yaml",
        4,
        "level: must be one of 'low', 'medium', 'high' or 'critical', got 'severe'",
    ),
    ("bad-threshold.yaml", 10, "server.setup_error.threshold: must be between 0 and 100, got 150"),
    (
        "caused-by-fallback.yaml",
        10,
        "tests: no fixture directory 'no-such-fixtures' beside this file",
    ),
    (
        "duplicate-id-b.yaml",
        2,
        "duplicate rule id 'same-id': also defined in {dir}/duplicate-id-a.yaml",
    ),
    ("duplicate-key.yaml", 7, "duplicate key 'close_code' (first at line 6)"),
    (
        "fallback-with-cause.yaml",
        9,
        "caused_by: a fallback rule (bucket) gives no cause, so it has no deeper rule",
    ),
    ("not-a-mapping.yaml", 1, "a rule file must be a YAML mapping, got a list"),
    (
        "syntax-error.yaml",
        7,
        "YAML syntax error: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence started at line 6)",
    ),
    (
        "unknown-evidence.yaml",
        14,
        "whys[1].evidence: 'setup_eror' is not a server selection of this rule "
        "(selections: setup_error)",
    ),
    (
        "unknown-key.yaml",
        10,
        f"server.setup_error: unknown key 'treshold' (allowed: {ALLOWED_SERVER_KEYS}); "
        "did you mean 'threshold'?",
    ),
    (
        "caused-by-fallback.yaml",
        9,
        "caused_by: 'fallback-ok' is a fallback rule (bucket), not a cause",
    ),
    ("caused-by-unknown.yaml", 11, "caused_by: unknown rule id 'no-such-rule'"),
    ("cycle-a.yaml", 9, "caused_by cycle: cycle-a -> cycle-b -> cycle-a"),
]


def _triples(errors: list[RuleError]) -> list[tuple[str, int | None, str]]:
    return [(Path(e.path or "").name, e.line, e.message) for e in errors]


def _problems(dirs: list[Path]) -> list[tuple[str, int | None, str]]:
    with pytest.raises(RuleErrors) as caught:
        load_rules(dirs, collect_errors=True)
    return _triples(caught.value.errors)


def _minimal(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "r",
        "title": "t",
        "level": "low",
        "client": {"close_code": 1011},
        "whys": [{"text": "w"}],
    }
    data.update(overrides)
    return data


# --- bundled rules -----------------------------------------------------------------------------


#: the bundled library in matching order: cause rules by priority, then fallback rules
LIBRARY = [
    "ws-agent-handler-1011",
    "ws-factory-validation-1011",
    "ws-handshake-auth-403",
    "run-iam-invoker-denied",
    "ws-handshake-bad-request-400",
    "http-redirect-307",
    "ws-handler-error-main-cleanup",
    "ws-keepalive-ping-timeout",
    "ws-request-timeout-cut",
    "http-5xx-dependency-refused",
    "run-no-instance-timeout",
    "run-instance-connection-error-503",
    "instance-memory-limit-exceeded",
    "instance-startup-failed",
    "config-env-var-missing",
    "client-side-test-failure",
    "server-error-no-rule",
]
FALLBACKS = {"client-side-test-failure": "client-side", "server-error-no-rule": "server-error"}
#: rules reached through caused_by: their whys continue a chain, so they start past the test
DEEPER = {"config-env-var-missing", "instance-startup-failed"}


def test_bundled_rules_load_sorted_by_priority() -> None:
    rules = load_rules([bundled_rules_dir()], collect_errors=True)
    assert [r.id for r in in_matching_order(rules)] == LIBRARY
    assert [r.id for r in rules] == sorted(LIBRARY, key=lambda i: (-_priority(rules, i), i))
    for rule in rules:
        assert rule.source is not None and Path(rule.source).stem == rule.id
        assert rule.bucket == FALLBACKS.get(rule.id)
        header = Path(rule.source).read_text().splitlines()
        assert header[0] == "# yaml-language-server: $schema=./schema.json"
        comments = " ".join(line for line in header if line.startswith("#"))
        for part in ("What the user sees", "What the server logs", "Why:"):
            assert part in comments, (rule.id, part)
        cited = [w.evidence for w in rule.whys if w.evidence]
        if rule.id == "client-side-test-failure":
            assert not cited and not rule.required_selections
            continue
        assert rule.required_selections, f"{rule.id} needs a required server selection"
        assert cited, f"{rule.id}: some whys cite evidence"
        if rule.id not in DEEPER and not rule.is_fallback:
            assert 3 <= len(rule.whys) <= 5 and len(cited) < len(rule.whys), rule.id
        # past the evidence, every why says what it is: a mechanism or an open question
        assert all(w.evidence or w.kind for w in rule.whys), rule.id


def _priority(rules: list[Rule], rule_id: str) -> int:
    return next(r.priority for r in rules if r.id == rule_id)


def test_caused_by_chains_of_the_library() -> None:
    rules = {r.id: r for r in load_rules([bundled_rules_dir()], collect_errors=True)}
    assert rules["http-5xx-dependency-refused"].caused_by == ("config-env-var-missing",)
    assert rules["run-no-instance-timeout"].caused_by == (
        "instance-startup-failed",
        "instance-memory-limit-exceeded",
    )
    assert rules["instance-startup-failed"].caused_by == ("config-env-var-missing",)
    assert {i for r in rules.values() for i in r.caused_by} <= set(DEEPER) | {
        "instance-memory-limit-exceeded"
    }


def test_bundled_rule_details() -> None:
    rules = {r.id: r for r in load_rules([bundled_rules_dir()], collect_errors=True)}
    factory = rules["ws-factory-validation-1011"]
    assert factory.client.exception == ("ConnectionClosedError",)
    assert factory.client.close_code == (1011,)
    assert factory.client.close_direction == "received"
    setup = factory.server["setup_error"]
    # plain-text stderr lines (gunicorn, uvicorn) carry no severity: unknown is not low
    assert setup.severity == ("DEFAULT", "ERROR", "CRITICAL", "ALERT", "EMERGENCY")
    assert setup.join == ("connection_id", "trace", "user_id")
    assert (setup.within.before_s, setup.within.after_s) == (10.0, 2.0)

    auth = rules["ws-handshake-auth-403"]
    assert auth.client.http_status == (401, 403)
    assert auth.client.exception == ("InvalidStatus", "InvalidStatusCode")
    request = auth.server["handshake_request"]
    # Cloud Run's request log or the app server's access line, by trace or by time
    assert (request.kind, request.http_status, request.join) == (
        None,
        (401, 403),
        ("trace", "time"),
    )
    assert request.http_path_contains == ("/ws",)
    assert auth.required_selections == ("auth_rejected",)
    # a time-only refusal counts only beside the handshake's 401/403 request log
    assert auth.server["auth_rejected"].corroborated_by == "handshake_request"

    cleanup = rules["ws-handler-error-main-cleanup"]
    assert cleanup.client.exception == ("ConnectionClosedOK",)
    # any reason the server sends with its 1000, not one app's "main cleanup"
    assert cleanup.client.message_contains is None and cleanup.client.close_direction == "received"
    assert cleanup.server["handler_error"].join == ("connection_id", "trace", "user_id", "time")
    assert cleanup.server["handler_error"].corroborated_by == "cleanup_close"
    assert cleanup.required_selections == ("handler_error",)


def test_bundled_whys_render_with_and_without_evidence() -> None:
    env = why_environment()
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    failure = Failure(
        test_id="tests/e2e/test_ws.py::test_chat",
        outcome="failed",
        message="ConnectionClosedError: received 1011",
        started_at=now,
        finished_at=now,
        time_exact=True,
        source="results.json:1",
        event=ClientEvent(close_code=1011, http_status=403),
    )
    for rule in load_rules([bundled_rules_dir()], collect_errors=True):
        full = {
            name: Evidence(
                insert_id=f"id-{name}",
                timestamp=now,
                kind="stdout",
                message=f"logged {name}",
                join_key="trace",
                offset_s=-1.0,
            )
            for name in rule.server
        }
        dumped = {name: line.model_dump() for name, line in full.items()}
        for evidence in ({}, full, dumped):  # whys.py renders model_dump()s
            for why in rule.whys:
                text = env.from_string(why.text).render(failure=failure, evidence=evidence)
                assert text == env.from_string(why.text).render(
                    failure=failure.model_dump(), evidence=evidence
                )
                assert "{" not in text and "None" not in text and "  " not in text, text
                assert text.strip() == text and text.endswith("."), text
        cited = " ".join(
            env.from_string(w.text).render(failure=failure, evidence=full) for w in rule.whys
        )
        if rule.id not in DEEPER and not rule.is_fallback:
            assert "tests/e2e/test_ws.py::test_chat" in cited, rule.id


# --- broken rules ------------------------------------------------------------------------------


def test_every_broken_file_is_reported_at_its_line() -> None:
    expected = [(n, line, m.replace("{dir}", str(BROKEN))) for n, line, m in BROKEN_EXPECTED]
    assert _problems([BROKEN]) == expected


def test_errors_print_as_file_line_message() -> None:
    with pytest.raises(RuleErrors) as caught:
        load_rules([BROKEN], collect_errors=True)
    lines = str(caught.value).splitlines()
    assert len(lines) == len(BROKEN_EXPECTED)
    assert f"{BROKEN / 'bad-threshold.yaml'}:10: server.setup_error.threshold: " in lines[8]


def test_without_collect_the_first_error_is_raised() -> None:
    with pytest.raises(RuleError) as caught:
        load_rules([BROKEN], collect_errors=False)
    assert not isinstance(caught.value, RuleErrors)
    name, line, message = BROKEN_EXPECTED[0]
    assert (Path(caught.value.path or "").name, caught.value.line) == (name, line)
    assert caught.value.message == message


def test_missing_empty_and_file_dirs(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a rule\n")
    missing = tmp_path / "missing"
    a_file = tmp_path / "rule.yaml"
    a_file.write_text("id: x\n")
    problems = _problems([empty, missing, a_file])
    assert problems == [
        ("empty", None, "no rule files (*.yaml, *.yml) in directory"),
        ("missing", None, "rule directory does not exist"),
        ("rule.yaml", None, "not a directory (expected a directory of *.yaml rule files)"),
    ]
    assert _problems([]) == [("", None, "no rule directories given")]


def _write(tmp_path: Path, text: str, name: str = "rule.yaml") -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / name).write_text(text)
    return rules


def test_unreadable_and_odd_documents(tmp_path: Path) -> None:
    rules = _write(tmp_path, "", "empty.yaml")
    (rules / "binary.yaml").write_bytes(b"id: \xff\xfe\n")
    (rules / "two.yaml").write_text("id: a\n---\nid: b\n")
    (rules / "scalar.yml").write_text("just text\n")
    assert _problems([rules]) == [
        ("binary.yaml", None, "not UTF-8 text: invalid start byte at byte 4"),
        ("empty.yaml", None, "empty file: a rule file must be a YAML mapping"),
        ("scalar.yml", 1, "a rule file must be a YAML mapping, got a string"),
        (
            "two.yaml",
            2,
            "YAML syntax error: expected a single document in the stream, "
            "but found another document",
        ),
    ]


def test_wrong_types_and_missing_keys_point_at_the_closest_line(tmp_path: Path) -> None:
    rules = _write(
        tmp_path,
        "id: Bad_Id\n"  # 1
        "level: low\n"  # 2
        "priority: high\n"  # 3
        "client:\n"  # 4
        "  close_code: [1011, '1006']\n"  # 5
        "  timeout: maybe\n"  # 6
        "  colour: red\n"  # 7
        "server:\n"  # 8
        "  setup_error:\n"  # 9
        "    join: [trace]\n"  # 10
        "    within: {before: soon}\n"  # 11
        "whys: []\n",  # 12
    )
    assert _problems([rules]) == [
        ("rule.yaml", 1, "id: must match ^[a-z0-9][a-z0-9-]*$, got 'Bad_Id'"),
        ("rule.yaml", 1, "missing required key 'title'"),
        ("rule.yaml", 3, "priority: must be an integer, got 'high'"),
        ("rule.yaml", 5, "client.close_code[1]: must be an integer, got '1006'"),
        ("rule.yaml", 6, "client.timeout: must be true or false, got 'maybe'"),
        (
            "rule.yaml",
            7,
            "client: unknown key 'colour' (allowed: message|contains, message|re, message|fuzzy, "
            "threshold, exception, close_code, close_direction, http_status, timeout, "
            "network_event, outcome, phase)",
        ),
        (
            "rule.yaml",
            11,
            "server.setup_error.within.before: must be a duration like 500ms, 5s or 2m, got 'soon'",
        ),
        ("rule.yaml", 12, "whys: must have at least 1 entry, got 0"),
    ]


def test_cross_rule_checks_ignore_files_that_failed(tmp_path: Path) -> None:
    """A reference to a rule whose file is broken is not also reported as unknown."""
    rules = _write(tmp_path, "id: deep\nlevel: nope\n", "deep.yaml")
    (rules / "top.yaml").write_text(
        "id: top\ntitle: t\nlevel: low\nclient: {close_code: 1011}\n"
        "whys: [{text: w}]\ncaused_by: [deep]\n"
    )
    assert _problems([rules]) == [
        ("deep.yaml", 1, "missing required key 'title'"),
        ("deep.yaml", 1, "missing required key 'client'"),
        ("deep.yaml", 1, "missing required key 'whys'"),
        ("deep.yaml", 2, "level: must be one of 'low', 'medium', 'high' or 'critical', got 'nope'"),
    ]


def test_load_rule_file_reports_all_its_problems() -> None:
    with pytest.raises(RuleErrors) as caught:
        load_rule_file(BROKEN / "bad-threshold.yaml")
    assert [e.line for e in caught.value.errors] == [4, 10]
    rule = load_rule_file(BROKEN / "cycle-a.yaml")  # cross-rule checks need the directory
    assert rule.caused_by == ("cycle-b",)


# --- override by id ----------------------------------------------------------------------------


def test_later_dir_overrides_by_id() -> None:
    rules = load_rules([GOOD / "bundled", GOOD / "project"], collect_errors=False)
    assert [r.id for r in rules] == ["ws-close-1011", "ws-profile", "ws-timeout"]
    by_id = {r.id: r for r in rules}
    override = by_id["ws-close-1011"]
    assert override.title == "Project-specific 1011 rule"
    assert override.source is not None and Path(override.source).parent.name == "project"
    assert override.caused_by == ("ws-profile",)
    sel = override.server["setup_error"]
    assert sel.severity == ("ERROR", "CRITICAL")
    assert sel.join == ("connection_id",)
    assert (sel.within.before_s, sel.within.after_s) == (30.0, 5.0)
    assert override.client.threshold == 70
    assert by_id["ws-timeout"].server == {}
    assert by_id["ws-profile"].references == ("https://example.com/runbook",)


def test_bundled_alone_and_order_matters() -> None:
    bundled = load_rules([GOOD / "bundled"], collect_errors=True)
    generic = {r.id: r for r in bundled}["ws-close-1011"]
    assert generic.title == "Server closed with 1011"
    within = generic.server["server_error"].within
    assert (within.before_s, within.after_s) == (0.5, 60.0)
    reversed_order = load_rules([GOOD / "project", GOOD / "bundled"], collect_errors=True)
    assert {r.id: r for r in reversed_order}["ws-close-1011"].title == "Server closed with 1011"


def test_caused_by_may_name_a_rule_of_another_dir(tmp_path: Path) -> None:
    project = _write(
        tmp_path,
        "id: deeper\ntitle: t\nlevel: low\nclient: {timeout: true}\n"
        "whys: [{text: w}]\ncaused_by: ws-timeout\n",
    )
    rules = load_rules([GOOD / "bundled", project], collect_errors=True)
    assert "deeper" in {r.id for r in rules}
    assert _problems([project]) == [("rule.yaml", 6, "caused_by: unknown rule id 'ws-timeout'")]


# --- schema details ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("5s", 5.0), ("2m", 120.0), ("1h", 3600.0), ("1.5s", 1.5), (3, 3.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert TimeRelation.model_validate({"before": text}).before_s == seconds


@pytest.mark.parametrize("text", ["-1s", "5", "5 sec", True, ""])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValidationError):
        TimeRelation.model_validate({"after": text})


def test_one_or_many_and_names() -> None:
    by_alias = ServerSelection.model_validate(
        {"message|contains": "x", "severity|min": "warning", "http_method": "get"}
    )
    by_name = ServerSelection(message_contains=("x",), severity_min="WARNING", http_method=("GET",))
    assert by_alias == by_name
    assert by_alias.threshold == 85.0 and by_alias.required is True


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"exception": ["A", "A"]}, "duplicate entry 'A'"),
        ({"exception": []}, "at least 1 item"),
        ({"close_code": True}, "valid integer"),
        ({"threshold": 90, "close_code": 1}, "only allowed together with message|fuzzy"),
        ({"message|fuzzy": "x", "threshold": -1}, "must be between 0 and 100, got -1"),
        ({}, "selects nothing: give at least one of exception, close_code"),
    ],
)
def test_client_selection_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ClientSelection.model_validate(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"severity": "ERROR", "severity|min": "ERROR"}, "either severity or severity|min"),
        ({"join": ["trace", "ip"]}, "'connection_id', 'trace', 'user_id' or 'time'"),
        ({"required": False}, "selects nothing"),
        ({"kind": "stdout", "within": {"before": "1s", "soon": "2s"}}, "Extra inputs"),
    ],
)
def test_server_selection_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ServerSelection.model_validate(data)


def test_rule_level_checks() -> None:
    with pytest.raises(ValidationError, match="caused_by cycle: r -> r"):
        Rule.model_validate(_minimal(caused_by="r"))
    with pytest.raises(ValidationError, match="must be letters, digits and _"):
        Rule.model_validate(_minimal(server={"setup-error": {"kind": "stdout"}}))
    with pytest.raises(ValidationError, match="at most 5"):
        Rule.model_validate(_minimal(whys=[{"text": "w"}] * 6))
    with pytest.raises(ValidationError, match="is not a server selection"):
        Rule.model_validate(_minimal(whys=[{"text": "w", "evidence": "x"}]))
    rule = Rule.model_validate(_minimal(server=None))
    assert rule.server == {} and rule.priority == 50 and rule.source is None


def test_rule_is_frozen_and_json_schema_uses_aliases() -> None:
    rule = Rule.model_validate(_minimal())
    with pytest.raises(ValidationError):
        rule.title = "changed"  # type: ignore[misc]
    schema = Rule.model_json_schema(by_alias=True)
    server_props = schema["$defs"]["ServerSelection"]["properties"]
    assert "message|contains" in server_props and "severity|min" in server_props
    assert schema["$defs"]["TimeRelation"]["properties"]["before"]["anyOf"][0]["type"] == "string"
    assert schema["$defs"]["ServerSelection"]["additionalProperties"] is False
    json.dumps(schema)
    assert Rule.model_validate(rule.model_dump(by_alias=True, exclude_defaults=True)) == rule
