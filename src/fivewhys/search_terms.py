"""The substrings a rule's message test cannot match without: search terms for a narrow pull.

A line a `message|re` (or `message|contains`) selection accepts holds certain literal runs of
the pattern, whichever branch matched. They come back as alternatives (OR) of sets of terms
(AND), read off the parsed pattern: a run of literal characters inside one branch, a group or a
repetition of at least one. Every step only drops requirements when unsure (a character class,
an optional part, a short run, too many alternatives), so the terms are a necessary condition,
never a sufficient one: a narrow pull that asks for them reads a superset of what the rule can
match, and `None` means nothing can be required (read every line).

Terms are kept to ASCII letters, digits, `_`, `-` and spaces, at least 3 long, and never a piece of
a mask placeholder (`<ID>`, `<NUM>`: a template may hold those, its message does not): such a run
is verbatim in the message wherever the pattern matched either the message or its template. The
Logging API's `:` and global search compare case-insensitively, so the terms are lower-cased
(case folding is assumed to treat the Kelvin sign and long s as RE2's `(?i)` does). Patterns with
RE2 syntax Python's parser reads differently (`[[:alpha:]]`, `\\pN`, `\\C`, `\\Q`) or cannot read
give None. The one gap known: a jsonPayload whose `message` is an object reads as its compact
JSON, and a term found only in one of its keys is not found by a search of values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from re import _parser  # type: ignore[attr-defined]
from typing import Any

from fivewhys.ids import _MASK_STEPS

#: terms: alternatives of required sets; [frozenset()] requires nothing
Terms = list[frozenset[str]]
_NOTHING: Terms = [frozenset()]
#: shorter runs select little and may be pieces of placeholders
MIN_TERM = 3
#: more alternatives than this (or a product larger than it) are not worth a filter
MAX_ALTERNATIVES = 32
#: terms kept per alternative (the longest): more only lengthen the filter
TERMS_PER_ALTERNATIVE = 3
_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_- ")
#: RE2 syntax that Python's parser would misread as literals or classes
_FOREIGN = re.compile(r"\[:|\\[pPCQEz]")
_PLACEHOLDERS = tuple(
    word.lower()
    for _pattern, token, _behind in _MASK_STEPS
    for word in re.findall(r"<(\w+)>", token)
)


def regex_terms(pattern: str) -> Terms | None:
    """What every match of `pattern` (RE2) contains; None when nothing can be required."""
    return _nothing_is_none(_regex_terms(pattern))


def contains_terms(needles: Sequence[str]) -> Terms | None:
    """What a line holding any of `needles` (case-insensitively) contains; None: nothing."""
    return _nothing_is_none(_or([_require(_runs(needle)) for needle in needles]))


def all_of(parts: Iterable[Terms | None]) -> Terms | None:
    """Terms a line meeting every part contains."""
    result = _NOTHING
    for part in parts:
        if part is not None:
            result = _and(result, part)
    return _nothing_is_none(result)


@lru_cache(maxsize=256)
def _regex_terms(pattern: str) -> tuple[frozenset[str], ...]:
    if _FOREIGN.search(pattern):
        return tuple(_NOTHING)
    try:
        parsed = _parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return tuple(_NOTHING)
    return tuple(_sequence(list(parsed)))


def _nothing_is_none(terms: Sequence[frozenset[str]]) -> Terms | None:
    if not terms or any(not alternative for alternative in terms):
        return None
    return list(terms)


def _sequence(items: list[tuple[Any, Any]]) -> Terms:
    """Terms of items matched one after another."""
    result = _NOTHING
    run: list[str] = []

    def flush() -> None:
        nonlocal result
        if run:
            result = _and(result, _require(["".join(run)]))
            run.clear()

    for op, value in items:
        name = getattr(op, "name", str(op))
        if name == "LITERAL" and chr(value) in _ALLOWED:
            run.append(chr(value).lower())
            continue
        flush()
        if name == "SUBPATTERN":
            result = _and(result, _sequence(list(value[-1])))
        elif name == "ATOMIC_GROUP":
            result = _and(result, _sequence(list(value)))
        elif name == "BRANCH":
            result = _and(result, _or([_sequence(list(branch)) for branch in value[1]]))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and value[0] >= 1:
            result = _and(result, _sequence(list(value[2])))
        # anything else (a class, any character, an anchor, a backreference) requires nothing
    flush()
    return result


def _runs(text: str) -> list[str]:
    """The runs of allowed characters of a literal text, lower-cased."""
    return re.findall(r"[A-Za-z0-9_\- ]+", text.lower())


def _require(runs: Iterable[str]) -> Terms:
    """One alternative requiring the usable runs (none usable: nothing required)."""
    usable = frozenset(r for r in runs if len(r) >= MIN_TERM and not _in_placeholder(r))
    return [usable]


def _in_placeholder(run: str) -> bool:
    return any(run in word for word in _PLACEHOLDERS)


def _and(left: Terms, right: Terms) -> Terms:
    """Both: the product of the alternatives; when too large, the requirement of one side only
    (dropping a requirement keeps the terms necessary)."""
    if left == _NOTHING:
        return right
    if right == _NOTHING:
        return left
    if len(left) * len(right) > MAX_ALTERNATIVES:
        return left if len(left) <= len(right) else right
    return _simplest([_trim(a | b) for a in left for b in right])


def _or(parts: list[Terms]) -> Terms:
    """Either: every alternative of each part; nothing when one part requires nothing."""
    merged = [alternative for part in parts for alternative in part]
    if not merged or any(not alternative for alternative in merged):
        return _NOTHING
    merged = _simplest(merged)
    return merged if len(merged) <= MAX_ALTERNATIVES else _NOTHING


def _trim(alternative: frozenset[str]) -> frozenset[str]:
    """The longest few terms of an alternative (fewer required terms: still necessary)."""
    if len(alternative) <= TERMS_PER_ALTERNATIVE:
        return alternative
    return frozenset(sorted(alternative, key=lambda t: (-len(t), t))[:TERMS_PER_ALTERNATIVE])


def _simplest(alternatives: list[frozenset[str]]) -> Terms:
    """Without duplicates, and without an alternative a weaker one implies (x or (x and y) is x;
    "clos" or "closed" is "clos"); in a fixed order."""
    unique = sorted(set(alternatives), key=lambda a: (len(a), sorted(a)))
    kept: Terms = []
    for alternative in unique:
        if not any(_implies(alternative, other) for other in kept):
            kept.append(alternative)
    return kept


def _implies(stronger: frozenset[str], weaker: frozenset[str]) -> bool:
    """A line holding every term of `stronger` holds every term of `weaker`."""
    return all(any(term in held for held in stronger) for term in weaker)
