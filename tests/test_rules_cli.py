"""`fivewhys rules ...`: exit codes and exact text of validate, test, explain, suggest, schema."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import REPO

from fivewhys.cli import cli
from fivewhys.rules.jsonschema import rule_json_schema_text
from fivewhys.rules.loader import load_rules

EXAMPLE_RESULTS = "examples/results/report-log.jsonl"
EXAMPLE_LOGS = "examples/logs/gcloud-read.json"
RULES = REPO / "rules"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_every_rules_command_has_help_and_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    for command in ("validate", "test", "explain", "suggest", "schema"):
        result = run("rules", command, "--help")
        assert result.exit_code == 0
        assert result.stdout.startswith(f"Usage: cli rules {command} ")
        assert f"fivewhys rules {command}" in readme, command


def test_validate_names_every_directory_merged() -> None:
    project = REPO / "tests" / "data" / "rules_good" / "project"
    result = run("rules", "validate", "rules", str(project))
    assert result.exit_code == 0
    # the project's rule has a why without evidence: the why lint warns, validation passes
    assert result.stdout == (
        f"{project / 'ws-close-1011.yaml'}:18: warning: ws-close-1011: whys[1]: states a cause "
        "without evidence: cite a selection (evidence:), mark it kind: mechanism (true by what "
        "the rule detects, with a reference) or kind: question (say what would answer it and "
        "where to look) [why-without-evidence]\n"
        f"19 rule(s) valid in rules, {project}, 1 lint warning(s)\n"
    )
    strict = run("rules", "validate", "--strict", "rules", str(project))
    assert strict.exit_code == 1 and strict.stdout == result.stdout


def test_validate_lints_the_bundled_library_clean() -> None:
    result = run("rules", "validate", "--strict")
    assert result.exit_code == 0
    assert "warning" not in result.stdout and "info" not in result.stdout


# --- rules test --------------------------------------------------------------------------------


def test_test_passes_on_the_bundled_library() -> None:
    result = run("rules", "test")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert (
        "PASS ws-agent-handler-1011 good.yaml: matches: evidence own-agent-timeout (connection_id)"
    ) in lines
    assert lines[0].startswith("PASS ws-agent-handler-1011 good")
    assert (
        "PASS run-no-instance-timeout good.yaml: matches: evidence aborted (trace), chain "
        "instance-startup-failed -> config-env-var-missing"
    ) in lines
    fixtures = len(list(RULES.glob("tests/*/good*.yaml")) + list(RULES.glob("tests/*/bad*.yaml")))
    rules = len(list(RULES.glob("*.yaml")))
    assert lines[-1] == f"{rules} rule(s), {fixtures} check(s): {fixtures} passed, 0 failed"


def test_test_exits_1_when_a_fixture_fails(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    near_miss = rules / "tests" / "ws-agent-handler-1011" / "bad-factory.yaml"
    near_miss.write_text(
        near_miss.read_text().replace("Factory SSOT validation failed", "Agent 'x' crashed")
    )
    result = run("rules", "test", str(rules))
    assert result.exit_code == 1
    assert (
        "FAIL ws-agent-handler-1011 bad-factory.yaml: matches, but a near miss must not"
        in result.stdout.splitlines()
    )
    fixtures = len(list(RULES.glob("tests/*/good*.yaml")) + list(RULES.glob("tests/*/bad*.yaml")))
    rules_count = len(list(RULES.glob("*.yaml")))
    assert result.stdout.endswith(
        f"{rules_count} rule(s), {fixtures} check(s): {fixtures - 1} passed, 1 failed\n"
    )


def test_test_exits_2_on_invalid_rules_or_fixtures(tmp_path: Path) -> None:
    broken = REPO / "tests" / "data" / "rules_broken"
    result = run("rules", "test", str(broken))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {broken / 'absent-cited.yaml'}:12: ")

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    fixture = rules / "tests" / "http-redirect-307" / "good.yaml"
    fixture.write_text("failure: {message: x}\n")
    result = run("rules", "test", str(rules))
    assert result.exit_code == 2
    assert result.stderr == f"error: {fixture}: failure.finished_at: Field required\n"


# --- rules explain -----------------------------------------------------------------------------


def _explain(rule_id: str, test: str) -> Result:
    return run(
        "rules", "explain", rule_id, "--results", EXAMPLE_RESULTS, "--logs", EXAMPLE_LOGS,
        "--test", test,
    )  # fmt: skip


def test_explain_walks_a_match_step_by_step() -> None:
    result = _explain("ws-factory-validation-1011", "test_chat_thread_bootstraps")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "examples/e2e/test_chat.py::test_chat_thread_bootstraps: ws-factory-validation-1011 MATCHES"
    )
    assert lines[2:6] == [
        "  client:",
        "    ok exception: wants ConnectionClosedError, saw ConnectionClosedError",
        "    ok close_code: wants 1011, saw 1011",
        "    ok close_direction: wants received, saw received",
    ]
    assert lines[6] == (
        "  server selection setup_error (required, join connection_id, trace, user_id, "
        "10 s before .. 2 s after): 1 of 17 candidate line(s) match; holds"
    )
    assert lines[7].startswith("    + 6b022ae7c98160019 connection_id -0.304 s ERROR stdout: ")
    # one time-only line fewer than without the run's intervals: another test's heartbeat
    assert lines[8] == "    stopped: 14 at join, 2 at fields; closest misses:"
    assert lines[-2:] == [
        "  verdict: matches",
        "  in the library: this rule is the first match, so it gives its cause",
    ]


def test_explain_says_why_not_and_who_wins() -> None:
    result = _explain("ws-factory-validation-1011", "test_ping_reply_format")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].endswith(": ws-factory-validation-1011 does not match")
    assert "    NO exception: wants ConnectionClosedError, saw AssertionError" in lines
    assert lines[-2:] == [
        "  verdict: client exception: wants ConnectionClosedError, saw AssertionError",
        "  in the library: client-side-test-failure (priority 20) matches first and gives "
        "bucket client-side",
    ]


def test_explain_unknown_rule_and_no_failure() -> None:
    result = _explain("no-such-rule", "x")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: no rule 'no-such-rule' (known: client-side-test-failure, "
    )
    result = _explain("http-redirect-307", "no_such_test")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "no failure matching 'no_such_test' in the results\n"


# --- rules suggest -----------------------------------------------------------------------------

CLOSED_1011 = (
    "websockets.exceptions.ConnectionClosedError: received 1011 (internal error) Internal error"
)


def _case(name: str, connection_id: str | None) -> str:
    """One JUnit testcase: failed (recording its connection id) or passed."""
    head = f'<testcase classname="e2e.test_presence" name="{name}" file="e2e/t.py" time="1.0">'
    if connection_id is None:
        return head + "</testcase>"
    return (
        f'{head}<properties><property name="connection_id" value="{connection_id}"/>'
        f'</properties><failure message="{CLOSED_1011}">E   boom</failure></testcase>'
    )


JUNIT = (
    '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" '
    'failures="2" skipped="0" tests="3" time="3.000" '
    'timestamp="2025-09-07T15:00:00.000000+00:00" hostname="ci">'
    + _case("test_presence_a", "conn_aaa111")
    + _case("test_presence_b", "conn_bbb222")
    + _case("test_ok", None)
    + "</testsuite></testsuites>\n"
)


def _presence_line(insert_id: str, at: str, conn: str) -> str:
    entry = {
        "insertId": insert_id,
        "logName": "projects/p/logs/run.googleapis.com%2Fstdout",
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": "chat-backend"}},
        "severity": "ERROR",
        "timestamp": at,
        "jsonPayload": {
            "message": f"Presence tracker crashed: RuntimeError('map changed size') ({conn})",
            "connection_id": conn,
        },
    }
    return json.dumps(entry) + "\n"


def _presence_run(tmp_path: Path) -> tuple[Path, Path]:
    results = tmp_path / "junit.xml"
    results.write_text(JUNIT)
    logs = tmp_path / "logs.ndjson"
    logs.write_text(
        _presence_line("p1", "2025-09-07T15:00:00.900000Z", "conn_aaa111")
        + _presence_line("p2", "2025-09-07T15:00:01.900000Z", "conn_bbb222")
    )
    return results, logs


def test_suggest_drafts_a_rule_that_validates_and_explains_the_run(tmp_path: Path) -> None:
    results, logs = _presence_run(tmp_path)
    drafts = tmp_path / "drafts"
    drafts.mkdir()
    draft = drafts / "draft.yaml"
    result = run(
        "rules", "suggest", "--results", str(results), "--logs", str(logs), "-o", str(draft)
    )
    assert result.exit_code == 0
    assert result.stderr == (
        "1 cluster(s) of unexplained failures:\n"
        "  1. 2 failure(s): Presence tracker crashed: RuntimeError('map changed size') (<ID>)\n"
        f"wrote {draft}: draft rule draft-presence-tracker-crashed-runtimeerror from cluster 1\n"
    )
    text = draft.read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    assert '  exception: "ConnectionClosedError"\n  close_code: 1011\n' in text
    assert (
        "    message|fuzzy: \"Presence tracker crashed: RuntimeError('map changed size') (<ID>)\"\n"
        in text
    )
    assert "    join: [connection_id]\n" in text
    (rule,) = load_rules([drafts], collect_errors=True)
    assert rule.id == "draft-presence-tracker-crashed-runtimeerror"
    assert run("rules", "validate", str(drafts)).exit_code == 0

    report = json.loads(
        run(
            "analyze", str(results), "--logs", str(logs), "--rules", str(drafts), "--format", "json"
        ).stdout
    )
    causes = {c["id"]: c["rule_id"] for c in report["causes"]}
    assert [causes[f["cause_id"]] for f in report["failures"]] == [rule.id, rule.id]
    assert [f["cites"][0]["insert_id"] for f in report["failures"]] == ["p1", "p2"]


def test_suggest_without_a_keyed_error_drafts_nothing() -> None:
    result = run("rules", "suggest", "--results", EXAMPLE_RESULTS, "--logs", EXAMPLE_LOGS)
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == (
        "nothing to draft: no unexplained failure has a keyed server line at WARNING or above\n"
    )


def test_suggest_cluster_out_of_range(tmp_path: Path) -> None:
    results, logs = _presence_run(tmp_path)
    result = run(
        "rules", "suggest", "--results", str(results), "--logs", str(logs), "--cluster", "2"
    )
    assert result.exit_code == 2
    assert result.stderr.endswith("error: --cluster 2: there are only 1 cluster(s)\n")


# --- rules schema ------------------------------------------------------------------------------


def test_schema_prints_or_writes_the_bundled_schema(tmp_path: Path) -> None:
    result = run("rules", "schema")
    assert (result.exit_code, result.stdout) == (0, rule_json_schema_text())
    out = tmp_path / "schema.json"
    result = run("rules", "schema", "-o", str(out))
    assert (result.exit_code, result.stderr) == (0, f"wrote {out}\n")
    assert out.read_text() == (RULES / "schema.json").read_text()
