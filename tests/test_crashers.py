"""Inputs that ended in a traceback (issue 12's probe): each is now a one-line error naming the
file (exit 2), or, for history, a warning while the run goes on."""

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


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"start": float("nan")}, "nan is not a time"),
        ({"stop": float("inf")}, "inf is not a time"),
        ({"start": 1e300, "stop": 1e300}, "is not a time between the years 1 and 9999"),
    ],
)
def test_impossible_epochs_are_one_line(
    tmp_path: Path, fields: dict[str, object], said: str
) -> None:
    path = _reportlog(tmp_path / "rl.jsonl", **fields)
    result = run("analyze", str(path))
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {path}: cannot be read: ")
    assert said in result.output
    assert "Traceback" not in result.output


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
    assert result.output.startswith(f"error: {path}: cannot be read: ")


def test_deeply_nested_log_json_is_one_line(tmp_path: Path) -> None:
    results = _reportlog(tmp_path / "rl.jsonl")
    logs = tmp_path / "logs.json"
    logs.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    result = run("analyze", str(results), "--logs", str(logs))
    assert result.exit_code == 2
    assert f"{logs}: cannot be read: maximum recursion depth exceeded" in result.output


@pytest.mark.parametrize("url", ["http://[::1/login", "ws://[fe80::1%eth0/ws"])
def test_a_broken_url_in_a_message_is_no_url(url: str) -> None:
    event = extract_client_event(f"websockets.exceptions.InvalidURI: {url} isn't a valid URI")
    assert event.url_path is None
    assert extract_client_event(f"InvalidStatus at {url}: HTTP 403").http_status == 403


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("fixed.json", b"[1, 2]", "fixed causes not read: AttributeError"),
        ("fixed.json", b'{"f": {"fixed_at": "2025-09-07T12:00:00"}}', "without a time zone"),
        ("fixed.json", b'{"f": {}}', "fixed causes not read: KeyError"),
        ("runs/a.json", b'{"failures": "x"}', "history run skipped: TypeError"),
        ("runs/b.json", b"\xff\xfe{", "history run skipped: UnicodeDecodeError"),
        ("runs/c.json", b'"a string"', "history run skipped: TypeError"),
    ],
)
def test_a_broken_history_file_is_a_warning(
    tmp_path: Path, name: str, content: bytes, said: str
) -> None:
    results = _reportlog(tmp_path / "rl.jsonl")
    history = tmp_path / "history"
    (history / "runs").mkdir(parents=True)
    (history / name).write_bytes(content)
    out = tmp_path / "out"
    result = run("ci", str(results), "--artifacts", str(out), "--history", str(history))
    assert result.exit_code == 0, result.output
    assert said in (out / "rca.md").read_text(encoding="utf-8")


def test_a_directory_where_fixed_json_should_be_is_a_warning(tmp_path: Path) -> None:
    results = _reportlog(tmp_path / "rl.jsonl")
    history = tmp_path / "history"
    (history / "fixed.json").mkdir(parents=True)
    out = tmp_path / "out"
    result = run("ci", str(results), "--artifacts", str(out), "--history", str(history))
    assert result.exit_code == 0, result.output
    assert "fixed causes not read: IsADirectoryError" in (out / "rca.md").read_text("utf-8")
