"""The command line: exit codes and the exact one-line messages users see."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from conftest import REPO

from fivewhys.cli import cli

EXAMPLE_RESULTS = "examples/results/report-log.jsonl"
EXAMPLE_LOGS = "examples/logs/gcloud-read.json"
BROKEN_RULES = REPO / "tests" / "data" / "rules_broken"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_analyze_writes_the_report_and_says_where(tmp_path: Path) -> None:
    out = tmp_path / "rca.md"
    result = run("analyze", EXAMPLE_RESULTS, "--logs", EXAMPLE_LOGS, "-o", str(out))
    assert result.exit_code == 0
    assert result.stderr == f"wrote {out}: 4 failure(s), 3 cause(s); 1 client-side\n"
    assert out.read_text().startswith("# Five whys: 4 failed tests, 3 causes, 1 client-side\n")


def test_json_format_from_the_extension_or_the_option(tmp_path: Path) -> None:
    out = tmp_path / "rca.json"
    assert run("analyze", EXAMPLE_RESULTS, "--logs", EXAMPLE_LOGS, "-o", str(out)).exit_code == 0
    assert json.loads(out.read_text())["schema_version"] == "1.5"
    result = run("analyze", EXAMPLE_RESULTS, "--logs", EXAMPLE_LOGS, "--format", "json")
    assert json.loads(result.stdout) == json.loads(out.read_text())


def test_glob_in_logs(tmp_path: Path) -> None:
    sink = tmp_path / "sink"
    sink.mkdir()
    shutil.copy(REPO / "examples" / "logs" / "sink.ndjson", sink / "part-1.json")
    result = run("analyze", EXAMPLE_RESULTS, "--logs", str(sink / "*.json"), "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["query"]["sources"] == [str(sink / "part-1.json")]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "junit.xml",
            '<testsuite><testcase name="a">\n<failure></testcase>',
            "{path}:2: malformed XML: mismatched tag",
        ),
        (
            "bomb.xml",
            '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "aaaa">]>\n<testsuite>&a;</testsuite>',
            "{path}: XML refused for safety: it declares entities (entity expansion and external "
            "entities are not read)",
        ),
        (
            "other.json",
            '{"a": 1}',
            "{path}: not a JUnit XML, pytest-reportlog or pytest-json-report file",
        ),
    ],
)
def test_bad_results_give_one_line_and_exit_2(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = _write(tmp_path, name, content)
    result = run("analyze", str(path))
    assert result.exit_code == 2
    assert result.stderr == "error: " + message.format(path=path) + "\n"
    assert result.stdout == ""


def test_missing_results_file(tmp_path: Path) -> None:
    result = run("analyze", str(tmp_path / "nope.xml"))
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {tmp_path / 'nope.xml'}: no such file\n",
    )


def test_missing_logs_glob() -> None:
    result = run("analyze", EXAMPLE_RESULTS, "--logs", "no-such-dir/*.json")
    assert (result.exit_code, result.stderr) == (2, "error: no-such-dir/*.json: no such file\n")


def test_malformed_log_array(tmp_path: Path) -> None:
    logs = _write(tmp_path, "logs.json", '[\n  {"insertId": "a"}\n  {"insertId": "b"}\n]')
    result = run("analyze", EXAMPLE_RESULTS, "--logs", str(logs))
    assert result.exit_code == 2
    assert result.stderr == f"error: {logs}:3:3: invalid JSON array: Expecting ',' delimiter\n"


def test_one_bad_ndjson_line_is_reported_and_skipped(tmp_path: Path) -> None:
    lines = (REPO / "examples" / "logs" / "sink.ndjson").read_text().splitlines()
    lines.insert(3, '{"insertId": "broken", "timestamp": ')
    logs = _write(tmp_path, "sink.ndjson", "\n".join(lines) + "\n")
    result = run("analyze", EXAMPLE_RESULTS, "--logs", str(logs), "--format", "json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["log_entries"] == len(lines) - 1
    assert f"{logs}:4: skipped: invalid JSON (Expecting value: column 36)" in (report["warnings"])
    assert sum(1 for f in report["failures"] if f["cause_id"]) == 3


def test_rules_validate_bundled_ok() -> None:
    result = run("rules", "validate")
    assert result.exit_code == 0
    count = len(list((REPO / "rules").glob("*.yaml")))
    assert result.stdout == f"{count} rule(s) valid in {REPO / 'rules'}\n"


def test_rules_validate_reports_every_problem_and_exits_2() -> None:
    result = run("rules", "validate", str(BROKEN_RULES))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) >= 10
    assert all(line.startswith(f"error: {BROKEN_RULES}") for line in lines)


def test_invalid_project_rule_stops_analyze(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    _write(
        rules,
        "x.yaml",
        "id: x\ntitle: t\nlevel: high\nclient: {close_code: 1011}\nwhys: [{text: a}]\nbogus: 1\n",
    )
    result = run("analyze", EXAMPLE_RESULTS, "--rules", str(rules))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {rules / 'x.yaml'}:6: unknown key 'bogus' (allowed: id, title, level, priority, "
        "client, server, whys, fix, references, caused_by, bucket, tests)\n"
    )


def test_bad_time_zone_is_a_usage_error() -> None:
    result = run("analyze", EXAMPLE_RESULTS, "--tz", "Mars/Base")
    assert result.exit_code == 2
    assert "unknown time zone 'Mars/Base'" in result.stderr


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    context = click.Context(group)
    for name in group.list_commands(context):  # the lazy top-level group loads them here
        command = group.get_command(context, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    paths = _command_paths(cli)
    assert len(paths) >= 9
    for path in paths:
        result = run(*path, "--help")
        assert result.exit_code == 0
        assert "Usage:" in result.stdout
        assert f"fivewhys {' '.join(path)}" in readme, path


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (("analyze", EXAMPLE_RESULTS, "--logs", EXAMPLE_LOGS), "report"),
        (("rules", "schema"), "schema"),
    ],
)
def test_an_unwritable_output_is_one_line_naming_it(
    tmp_path: Path, args: tuple[str, ...], what: str
) -> None:
    out = tmp_path / "missing" / "out.md"
    result = run(*args, "-o", str(out))
    assert result.exit_code == 2
    assert result.stderr == f"error: {out}: cannot write {what}: No such file or directory\n"
