"""Project rules beside the bundled ones: `--rules DIR` and `[tool.fivewhys] rules`, adding rules
and overriding bundled ones by id, with `--rules` applied last."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO

from fivewhys.cli import cli

RESULTS = str(REPO / "examples" / "results" / "report-log.jsonl")
LOGS = str(REPO / "examples" / "logs" / "gcloud-read.json")
FACTORY = "ws-factory-validation-1011"


def _override(directory: Path, title: str) -> Path:
    """A copy of the bundled factory rule under another title (same id, so it overrides)."""
    directory.mkdir(parents=True)
    text = (REPO / "rules" / f"{FACTORY}.yaml").read_text()
    original = "title: Server exception during WebSocket setup closed the connection with 1011"
    assert original in text
    (directory / f"{FACTORY}.yaml").write_text(text.replace(original, f"title: {title}"))
    return directory


def _titles(*args: str) -> dict[str, str]:
    result = CliRunner().invoke(
        cli, ["analyze", RESULTS, "--logs", LOGS, "--format", "json", *args]
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    return {c["rule_id"]: c["title"] for c in report["causes"]}


def test_rules_option_overrides_a_bundled_rule_by_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no project settings here
    assert _titles()[FACTORY].startswith("Server exception during WebSocket setup")
    project = _override(tmp_path / "e2e-rules", "Onboarding left the user without a thread")
    titles = _titles("--rules", str(project))
    assert titles[FACTORY] == "Onboarding left the user without a thread"
    assert len(titles) == 3  # the other bundled causes are untouched


def test_tool_fivewhys_rules_are_read_from_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _override(tmp_path / "e2e" / "rules", "From pyproject")
    (tmp_path / "pyproject.toml").write_text('[tool.fivewhys]\nrules = ["e2e/rules"]\n')
    monkeypatch.chdir(tmp_path)
    assert _titles()[FACTORY] == "From pyproject"
    # --rules comes after the configured directories, so it wins
    later = _override(tmp_path / "later", "From --rules")
    assert _titles("--rules", str(later))[FACTORY] == "From --rules"


def test_a_configured_directory_that_is_missing_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.fivewhys]\nrules = ["nowhere"]\n')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["analyze", RESULTS, "--logs", LOGS])
    assert result.exit_code == 2
    assert result.stderr == "error: nowhere: rule directory does not exist\n"
