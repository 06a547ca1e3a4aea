"""Inputs that ended in a traceback (issue 12's probe), through the command as a user runs it:
each is now a one-line error naming the file (exit 2). The readers' own cases (impossible
epochs, damaged history) are in tests/test_hostile_inputs.py and tests/test_history.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fivewhys.cli import cli
from fivewhys.ids import extract_client_event

#: a pytest-reportlog test report as pytest-reportlog writes it (its `serialize_report`)
REPORT = {
    "nodeid": "t.py::test_a",
    "location": ["t.py", 1, "test_a"],
    "keywords": {},
    "outcome": "failed",
    "longrepr": "E   AssertionError: boom",
    "when": "call",
    "user_properties": [],
    "sections": [],
    "duration": 0.1,
    "start": 1757246400.0,
    "stop": 1757246400.1,
    "$report_type": "TestReport",
}


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _reportlog(path: Path, **fields: object) -> Path:
    # json.dumps writes NaN and Infinity as Python's json module reads them back
    path.write_text(json.dumps({**REPORT, **fields}) + "\n", encoding="utf-8")
    return path


def test_a_year_9999_junit_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(
        '<testsuite name="s" tests="1" timestamp="9999-12-31T23:59:59">'
        '<testcase classname="t" name="a" time="1e308"><failure message="x">x</failure>'
        "</testcase></testsuite>",
        encoding="utf-8",
    )
    result = run("analyze", str(path))
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {path}")
    assert len(result.output.splitlines()) == 1


def test_deeply_nested_log_json_is_one_line(tmp_path: Path) -> None:
    results = _reportlog(tmp_path / "rl.jsonl")
    logs = tmp_path / "logs.json"
    logs.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    result = run("analyze", str(results), "--logs", str(logs))
    assert result.exit_code == 2
    assert (
        result.output == f"error: {logs}:1:1: invalid JSON array: nested deeper than can be read\n"
    )


@pytest.mark.parametrize("url", ["http://[::1/login", "ws://[fe80::1%eth0/ws"])
def test_a_broken_url_in_a_message_is_no_url(url: str) -> None:
    event = extract_client_event(f"websockets.exceptions.InvalidURI: {url} isn't a valid URI")
    assert event.url_path is None
    assert extract_client_event(f"InvalidStatus at {url}: HTTP 403").http_status == 403
