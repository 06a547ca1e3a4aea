"""Inputs that ended in a traceback (issue 12's probe), through the command as a user runs it:
a one-line error naming the file and place (exit 2). The readers' own cases (impossible times,
broken URLs, damaged history) are in tests/test_hostile_inputs.py and tests/test_history.py."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from fivewhys.cli import cli

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


def test_deeply_nested_log_json_is_one_line(tmp_path: Path) -> None:
    results = _reportlog(tmp_path / "rl.jsonl")
    logs = tmp_path / "logs.json"
    logs.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    result = run("analyze", str(results), "--logs", str(logs))
    assert result.exit_code == 2
    assert (
        result.output == f"error: {logs}:1:1: invalid JSON array: nested deeper than can be read\n"
    )
