"""The bundled rule library: every rule proven by its fixtures, the shipped JSON Schema current,
and the fixture runner itself able to fail in each way it claims to check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fivewhys.authoring.fixtures import fixture_files, load_fixture, run_rule_tests
from fivewhys.errors import RuleErrors
from fivewhys.rules.jsonschema import rule_json_schema_text
from fivewhys.rules.loader import bundled_rules_dir, load_rules
from fivewhys.rules.schema import Rule

RULES = bundled_rules_dir()


def test_every_bundled_rule_passes_its_good_and_bad_fixtures() -> None:
    library = load_rules([RULES], collect_errors=True)
    results = run_rule_tests(library)
    failed = [f"{r.rule_id} {r.path}: {r.detail}" for r in results if not r.passed]
    assert failed == []
    for rule in library:
        kinds = {r.kind for r in results if r.rule_id == rule.id and r.path is not None}
        assert kinds == {"good", "bad"}, rule.id


def test_every_fixture_directory_belongs_to_a_rule() -> None:
    ids = {rule.id for rule in load_rules([RULES], collect_errors=True)}
    directories = {p.name for p in (RULES / "tests").iterdir() if p.is_dir()}
    assert directories == ids


def test_the_shipped_json_schema_is_the_generated_one() -> None:
    committed = (RULES / "schema.json").read_text(encoding="utf-8")
    assert committed == rule_json_schema_text(), "run `make rules-schema`"
    schema = json.loads(committed)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert {"bucket", "caused_by", "tests"} <= schema["properties"].keys()
    server = schema["$defs"]["ServerSelection"]["properties"]
    assert {"message|fuzzy", "http_latency|min", "absent"} <= server.keys()


def _copy_rule(tmp_path: Path, rule_id: str) -> Path:
    """One bundled rule with its fixtures, in a directory of its own."""
    rules = tmp_path / "rules"
    (rules / "tests").mkdir(parents=True)
    shutil.copy(RULES / f"{rule_id}.yaml", rules)
    shutil.copytree(RULES / "tests" / rule_id, rules / "tests" / rule_id)
    return rules


def test_a_near_miss_that_matches_fails(tmp_path: Path) -> None:
    rules = _copy_rule(tmp_path, "ws-factory-validation-1011")
    near_miss = rules / "tests" / "ws-factory-validation-1011" / "bad-agent-timeout.yaml"
    near_miss.write_text(
        near_miss.read_text().replace("Agent 'planner' timed out", "Factory SSOT validation failed")
    )
    results = {
        r.path.name: (r.kind, r.passed, r.detail)
        for r in run_rule_tests(load_rules([rules], collect_errors=True))
        if r.path is not None
    }
    assert results["good.yaml"] == (
        "good",
        True,
        "matches: evidence own-factory-error (connection_id)",
    )
    assert results["bad-agent-timeout.yaml"] == ("bad", False, "matches, but a near miss must not")
    assert [name for name, (_, passed, _) in results.items() if not passed] == [
        "bad-agent-timeout.yaml"
    ]


def test_a_good_fixture_taken_by_a_higher_priority_rule_fails(tmp_path: Path) -> None:
    rules = _copy_rule(tmp_path, "ws-agent-handler-1011")
    (rules / "greedy.yaml").write_text(
        "id: greedy\ntitle: Any 1011\nlevel: low\npriority: 500\n"
        "client: {close_code: 1011}\nwhys: [{text: w}]\n"
    )
    results = {
        (r.rule_id, r.kind, r.path.name if r.path else None): r
        for r in run_rule_tests(load_rules([rules], collect_errors=True))
    }
    good = results[("ws-agent-handler-1011", "good", "good.yaml")]
    assert (good.passed, good.detail) == (False, "matches, but greedy matches first")
    missing = results[("greedy", "good", None)]
    assert not missing.passed
    assert missing.detail == f"no good*.yaml in {rules / 'tests' / 'greedy'}"


def test_a_wrong_expected_evidence_fails(tmp_path: Path) -> None:
    rules = _copy_rule(tmp_path, "ws-factory-validation-1011")
    good = rules / "tests" / "ws-factory-validation-1011" / "good.yaml"
    good.write_text(good.read_text().replace("evidence: own-factory-error", "evidence: other"))
    results = {
        r.path.name: r for r in run_rule_tests(load_rules([rules], collect_errors=True)) if r.path
    }
    assert results["good.yaml"].detail == "first evidence is own-factory-error, expected other"


def test_a_good_fixture_that_does_not_match_says_why(tmp_path: Path) -> None:
    rules = _copy_rule(tmp_path, "ws-factory-validation-1011")
    good = rules / "tests" / "ws-factory-validation-1011" / "good.yaml"
    good.write_text(good.read_text().replace("severity: ERROR", "severity: INFO"))
    results = {
        r.path.name: r for r in run_rule_tests(load_rules([rules], collect_errors=True)) if r.path
    }
    assert results["good.yaml"].detail == (
        "does not match: server selection setup_error: no line matches (1 candidate(s): "
        "1 by fields)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("failure: {message: x}\n", "failure.finished_at: Field required"),
        (
            "failure: {message: x, finished_at: 2025-09-07T15:00:00Z}\nlog: []\n",
            "log: Extra inputs are not permitted",
        ),
        ("failure: [\n", "YAML syntax error: expected the node content, but found '<stream end>'"),
    ],
)
def test_an_unreadable_fixture_is_a_located_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(text)
    with pytest.raises(RuleErrors) as caught:
        load_fixture(path)
    assert [(e.path, e.message) for e in caught.value.errors] == [(str(path), message)]


def test_fixtures_keep_log_timestamps_as_text(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(
        "failure: {message: x, finished_at: 2025-09-07T15:00:00Z}\n"
        "logs: [{insertId: a, timestamp: 2025-09-07T15:00:00.123456789Z}]\n"
    )
    fixture = load_fixture(path)
    assert fixture.logs[0]["timestamp"] == "2025-09-07T15:00:00.123456789Z"


def test_a_rule_can_point_to_its_fixtures(tmp_path: Path) -> None:
    rules = _copy_rule(tmp_path, "ws-factory-validation-1011")
    (rules / "tests" / "ws-factory-validation-1011").rename(rules / "factory-examples")
    text = (rules / "ws-factory-validation-1011.yaml").read_text()
    (rules / "ws-factory-validation-1011.yaml").write_text(text + "tests: factory-examples\n")
    (rule,) = load_rules([rules], collect_errors=True)
    assert isinstance(rule, Rule) and rule.tests == "factory-examples"
    files = fixture_files(rule)
    assert [p.name for p in files["good"]] == sorted(
        p.name for p in (rules / "factory-examples").glob("good*.yaml")
    )
    assert "good.yaml" in [p.name for p in files["good"]]
    assert all(r.passed for r in run_rule_tests([rule]))
