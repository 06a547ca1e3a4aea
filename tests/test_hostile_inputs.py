"""Hostile inputs end in one line naming file and place, fast: alias bombs, backtracking
regexes, absurd times, deep JSON, broken URLs, lone surrogates (issue 12, parts 6 and 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fivewhys.config import load_settings
from fivewhys.errors import InputError, RuleErrors
from fivewhys.ids import extract_client_event, extract_ids
from fivewhys.linear_regex import LinearRegex
from fivewhys.rules.loader import load_rule_file

HOSTILE_RULES = Path(__file__).parent / "data" / "rules_hostile"


def rule_errors(name: str) -> list[str]:
    with pytest.raises(RuleErrors) as caught:
        load_rule_file(HOSTILE_RULES / name)
    return [str(error) for error in caught.value.errors]


@pytest.mark.parametrize("name", ["alias-bomb.yaml", "recursive-alias.yaml"])
def test_alias_bomb_is_one_line_at_the_anchor(name: str) -> None:
    [error] = rule_errors(name)
    assert error.startswith(f"{HOSTILE_RULES / name}:3: YAML aliases expand past 20000 nodes")


def test_backtracking_constructs_are_named_at_their_line() -> None:
    errors = rule_errors("backtracking-regex.yaml")
    assert len(errors) == 2
    assert errors[0].startswith(f"{HOSTILE_RULES / 'backtracking-regex.yaml'}:6: client.message|re")
    assert "a backreference (\\1 ...) is not supported: regexes run on RE2" in errors[0]
    assert ":9: server.look.message|re" in errors[1]
    assert "a look-ahead (?= or (?! is not supported" in errors[1]


def test_catastrophic_pattern_runs_in_linear_time() -> None:
    """`(a+)+$` on Python's engine takes minutes on this line; RE2 answers at once."""
    assert LinearRegex(r"(a+)+$").search("a" * 41 + "!") is False
    assert LinearRegex(r"(x+x+)+y").search("x" * 5000) is False


def test_configured_id_pattern_runs_on_re2(tmp_path: Path) -> None:
    (tmp_path / "fivewhys.toml").write_text(
        '[ids]\nconnection_id = ["sess=((?:a+)+)(?:;|$)"]\n', encoding="utf-8"
    )
    patterns = load_settings(tmp_path).id_patterns()
    found = extract_ids(["sess=" + "a" * 5000 + "!", "sess=aaa;"], None, patterns)
    assert found.connection_ids == ("aaa",)


def test_configured_look_ahead_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fivewhys.toml").write_text('[ids]\ntrace = ["t=(\\\\w+)(?=;)"]\n', "utf-8")
    with pytest.raises(InputError) as caught:
        load_settings(tmp_path)
    assert "a look-ahead (?= or (?! is not supported" in str(caught.value)
    assert str(caught.value).startswith(f"{tmp_path / 'fivewhys.toml'}: ids.trace")


@pytest.mark.parametrize(
    "message",
    [
        "httpx.ConnectError: GET http://[::1/login failed",
        "see \x1b]8;;http://[::1/x\x1b\\link\x1b]8;;\x1b\\ for more",
    ],
)
def test_broken_url_gives_no_path(message: str) -> None:
    assert extract_client_event(message).url_path is None
