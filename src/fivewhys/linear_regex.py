"""User-supplied regexes (rule `message|re`, configured id patterns) on RE2: linear time always.

Python's backtracking engine takes exponential time on `(a+)+$` against a 41-character line; RE2
never backtracks, so a pattern from a rule file or a setting cannot stall a CI job. RE2 refuses
the constructs that need backtracking; `refusal` names them for `rules validate`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import re2  # type: ignore[import-untyped]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refused pattern on stderr

_SURROGATE = re.compile("[\ud800-\udfff]")

#: RE2's error text -> the construct named for the rule author
_REFUSED = (
    (re.compile(r"invalid escape sequence: \\[1-9]"), "a backreference (\\1 ...)"),
    (re.compile(r"invalid perl operator: \(\?P$"), "a named backreference (?P=...)"),
    (re.compile(r"invalid perl operator: \(\?[=!]"), "a look-ahead (?= or (?!"),
    (re.compile(r"invalid perl operator: \(\?<[=!]"), "a look-behind (?<= or (?<!"),
    (re.compile(r"invalid perl operator: \(\?>"), "an atomic group (?>"),
    (re.compile(r"invalid perl operator: \(\?\("), "a conditional (?(1)...)"),
    (re.compile(r"invalid perl operator: \(\?#"), "a comment (?#...)"),
    (re.compile(r"invalid escape sequence: \\Z"), "\\Z (write \\z)"),
    (re.compile(r"bad repetition operator: [*+?]\+"), "a possessive quantifier (*+, ++)"),
    (re.compile(r"invalid repetition size"), "a repetition count over 1000"),
)


class RegexRefused(ValueError):
    """A pattern RE2 will not compile; the message names the construct when it is a known one."""


def without_surrogates(text: str) -> str:
    """Lone surrogates (from JSON `\\ud800` escapes) as U+FFFD: RE2 and UTF-8 output need it."""
    return _SURROGATE.sub("\ufffd", text)


class LinearRegex:
    """A compiled RE2 pattern with the two operations fivewhys needs."""

    def __init__(self, pattern: str) -> None:
        try:
            self._regex = re2.compile(pattern, _OPTIONS)
        except re2.error as exc:
            raise RegexRefused(refusal(pattern, exc)) from None
        self.pattern = pattern
        self.groups: int = self._regex.groups

    def search(self, text: str) -> bool:
        try:
            return self._regex.search(text) is not None
        except UnicodeEncodeError:
            return self._regex.search(without_surrogates(text)) is not None

    def group_values(self, text: str, group: int = 1) -> Iterator[str]:
        """Group `group` of every match, left to right (empty groups left out)."""
        try:
            matches = list(self._regex.finditer(text))
        except UnicodeEncodeError:
            matches = list(self._regex.finditer(without_surrogates(text)))
        for match in matches:
            value = match.group(group)
            if value:
                yield value


def refusal(pattern: str, exc: Exception) -> str:
    """Why RE2 refused `pattern`, naming the construct for the known cases."""
    detail = exc.args[0] if exc.args else str(exc)
    reason = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    for probe, construct in _REFUSED:
        if probe.search(reason):
            return (
                f"{construct} is not supported: regexes run on RE2, which keeps matching "
                f"linear in time and has no backtracking constructs ({reason})"
            )
    return reason
