"""Hostile inputs end in one line naming file and place, fast: alias bombs, backtracking
regexes, absurd times, deep JSON, broken URLs, lone surrogates (issue 12, parts 6 and 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fivewhys.config import load_settings
from fivewhys.errors import FivewhysError, InputError, RuleErrors
from fivewhys.ids import extract_client_event, extract_ids
from fivewhys.linear_regex import LinearRegex
from fivewhys.results import read_results
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


def test_lone_surrogates_reach_no_output(tmp_path: Path) -> None:
    """A reportlog line with `\\ud800` escapes (valid JSON, not valid UTF-8 text) reads, and
    its failure writes as UTF-8."""
    record = {
        "$report_type": "TestReport",
        "nodeid": "t.py::a\ud800",
        "when": "call",
        "outcome": "failed",
        "start": 1.0,
        "stop": 2.0,
        "longrepr": "E  boom \udfff at http://[::1/x",
    }
    path = tmp_path / "report.jsonl"
    path.write_text('{"$report_type": "SessionStart"}\n' + json.dumps(record) + "\n", "utf-8")
    [failure] = read_results([path]).failures
    assert failure.test_id == "t.py::a\ufffd"
    failure.model_dump_json().encode("utf-8")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("j_nan.xml", 'time="nan"', "time 'nan' is not a duration; taken as 0"),
        ("j_y9999.xml", 'timestamp="9999-12-31T23:59:59+00:00"', "is not a time of a test run"),
    ],
)
def test_absurd_junit_times_are_one_line(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    suite_time = text if text.startswith("timestamp") else 'timestamp="2025-09-07T08:22:09Z"'
    case_time = text if text.startswith("time=") else 'time="1"'
    path = tmp_path / name
    path.write_text(
        f'<testsuites><testsuite name="p" {suite_time}><testcase classname="t.m" name="a" '
        f'{case_time}><failure message="boom">x</failure></testcase></testsuite></testsuites>',
        "utf-8",
    )
    try:
        warnings = read_results([path]).warnings
    except FivewhysError as exc:
        warnings = [str(exc)]
    assert any(expected in line for line in warnings)


CRASHERS = sorted((Path(__file__).parent / "data" / "results" / "hostile").glob("*.*[!d]"))


@pytest.mark.parametrize("path", CRASHERS, ids=lambda path: path.name)
def test_crashers_read_or_fail_in_one_line(path: Path) -> None:
    try:
        read = read_results([path])
    except FivewhysError as exc:
        assert str(exc).startswith(f"{path}: ")
        assert "\n" not in str(exc)
    else:
        assert all(line.startswith(str(path)) for line in read.warnings)
        for failure in read.failures:
            failure.model_dump_json()
