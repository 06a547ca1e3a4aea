"""The why lint: each check fires on a rule written to trip it, at the line of the key it is
about, stays silent on the same rule written right, and the bundled library lints clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from fivewhys.errors import RuleErrors
from fivewhys.rules.lint import CHECKS, LintIssue, lint_rules
from fivewhys.rules.loader import bundled_rules_dir, load_rules

HEAD = """\
id: lint-probe
title: A probe for the why lint
level: low
client: {close_code: 1011}
server:
  setup_error:
    message|contains: validation failed
  extra:
    message|contains: closing
    required: false
"""

#: check name -> (whys that trip it, the same whys written right); the second why starts at line
#: 14 of the file, its second key is line 15
CASES: dict[str, tuple[str, str]] = {
    "why-without-evidence": (
        "whys:\n  - text: Seen.\n    evidence: setup_error\n"
        "  - text: The profile was saved without a thread id.\n",
        "whys:\n  - text: Seen.\n    evidence: setup_error\n"
        "  - text: Which field was missing? The logged message names it.\n    kind: question\n",
    ),
    "optional-evidence-without-unproven": (
        "whys:\n  - text: Seen.\n    evidence: setup_error\n"
        "  - text: The server closed it.\n    evidence: extra\n",
        "whys:\n  - text: Seen.\n    evidence: setup_error\n"
        "  - text: The server closed it.\n    evidence: extra\n"
        "    unproven: Did the server close it? No close line was found.\n",
    ),
    "mechanism-without-reference": (
        "whys:\n  - text: Seen.\n    evidence: setup_error\n"
        "  - text: 1011 means an unexpected condition.\n    kind: mechanism\n",
        "whys:\n  - text: Seen.\n    evidence: setup_error\n"
        "  - text: 1011 means an unexpected condition.\n    kind: mechanism\n"
        "references: [https://www.rfc-editor.org/rfc/rfc6455#section-7.4.1]\n",
    ),
    "question-does-not-ask": (
        "whys:\n  - text: Seen.\n    evidence: setup_error\n"
        "  - text: Read the logged message.\n    kind: question\n",
        "whys:\n  - text: Seen.\n    evidence: setup_error\n"
        "  - text: Which field? Read the logged message.\n    kind: question\n",
    ),
}

#: the line each check points at: the why itself, or the key of it that is wrong
LINES = {
    "why-without-evidence": 14,
    "optional-evidence-without-unproven": 15,
    "mechanism-without-reference": 15,
    "question-does-not-ask": 14,
}


def _lint(tmp_path: Path, whys: str, head: str = HEAD) -> list[LintIssue]:
    directory = tmp_path / "rules"
    directory.mkdir(parents=True)
    (directory / "lint-probe.yaml").write_text(head + whys)
    return lint_rules(load_rules([directory], collect_errors=True))


def test_every_check_has_a_case_a_description_and_a_severity() -> None:
    assert sorted(check.name for check in CHECKS) == sorted(CASES)
    for check in CHECKS:
        assert check.description.endswith(".") and check.severity in ("warning", "info")


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_check_fires_at_its_line_and_not_on_the_rule_written_right(
    tmp_path: Path, name: str
) -> None:
    tripping, right = CASES[name]
    issues = _lint(tmp_path / "trips", tripping)
    assert [(i.check, i.rule_id, i.line) for i in issues] == [(name, "lint-probe", LINES[name])]
    path = tmp_path / "trips" / "rules" / "lint-probe.yaml"
    assert str(issues[0]).startswith(f"{path}:{LINES[name]}: ")
    assert str(issues[0]).endswith(f"[{name}]")
    assert _lint(tmp_path / "right", right) == []


def test_an_unmarked_why_gets_the_message_that_says_what_to_do(tmp_path: Path) -> None:
    (issue,) = _lint(tmp_path, CASES["why-without-evidence"][0])
    assert issue.severity == "warning"
    assert issue.message == (
        "whys[1]: states a cause without evidence: cite a selection (evidence:), mark it kind: "
        "mechanism (true by what the rule detects, with a reference) or kind: question (say "
        "what would answer it and where to look)"
    )


def test_an_unmarked_why_that_asks_is_told_to_say_so(tmp_path: Path) -> None:
    whys = "whys:\n  - text: Which field failed? The message names it.\n"
    (issue,) = _lint(tmp_path, whys)
    assert issue.check == "why-without-evidence" and issue.line == 12
    assert "(it asks: mark it kind: question)" in issue.message


def test_the_bundled_library_lints_clean() -> None:
    assert lint_rules(load_rules([bundled_rules_dir()], collect_errors=True)) == []


WHYS = "whys:\n  - text: Seen.\n    evidence: setup_error\n"


@pytest.mark.parametrize(
    "pattern",
    [r"failed(?= for)", r"(?<!not )failed", r"(a)\1", r"(?P<w>x)(?P=w)", r"(?>ab)c", r"a++"],
)
def test_a_regex_that_needs_backtracking_is_refused_at_its_key(
    tmp_path: Path, pattern: str
) -> None:
    """Not a lint: RE2 refuses these when the rule loads (rules/schema.py), at the key's line."""
    head = HEAD.replace("    message|contains: validation failed", f"    message|re: '{pattern}'")
    with pytest.raises(RuleErrors) as caught:
        _lint(tmp_path, WHYS, head)
    (error,) = caught.value.errors
    assert error.line == 7 and "message|re" in str(error)


def test_linear_regexes_pass(tmp_path: Path) -> None:
    head = HEAD.replace(
        "    message|contains: validation failed",
        r"    message|re: '(?i)\bvalidation (?:failed|error)\b[^\n]*\d+(?:\.\d+)?s?'",
    )
    assert _lint(tmp_path, WHYS, head) == []
