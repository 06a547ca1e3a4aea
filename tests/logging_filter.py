"""The Cloud Logging query language, evaluated for the suite's fake `entries:list` endpoint.

What a filter means here is what Google documents ("Logging query language",
https://cloud.google.com/logging/docs/view/logging-query-language):

- NOT (or a leading `-`) binds tightest, then OR, then AND: `"a" OR NOT "b" AND NOT "c" OR "d"`
  is `("a" OR (NOT "b")) AND ((NOT "c") OR "d")`; terms side by side are ANDed.
- A comparison is `FIELD OP VALUE` with OP one of `= != < <= > >= : =~ !~`; a value alone is a
  global restriction: some field of the entry, or its payload, has it.
- String comparisons ignore case; regular expressions (RE2) do not. `:` is "has": a substring
  of a string, a value anywhere inside an object, `FIELD:*` that the field is present.
- `severity` compares by rank (DEFAULT < DEBUG < INFO < ... < EMERGENCY), `timestamp` and
  `receiveTimestamp` as times; a missing field satisfies no comparison (`NOT` of one does).
- Field paths are LogEntry field names joined by `.`, a segment with other characters quoted
  (`labels."a/b"`); `FIELD = ("a" OR "b")` compares against each value.

Whatever else it meets (an unknown LogEntry field, an unknown severity, an unparsable time, a
regex RE2 cannot run, a dangling operator) raises `FilterError`, which the fake answers with
400 INVALID_ARGUMENT: a narrowing the fake cannot honour fails its test instead of passing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: LogEntry's fields (https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry)
ENTRY_FIELDS = frozenset(
    {
        "logName",
        "resource",
        "protoPayload",
        "textPayload",
        "jsonPayload",
        "timestamp",
        "receiveTimestamp",
        "severity",
        "insertId",
        "httpRequest",
        "labels",
        "operation",
        "trace",
        "spanId",
        "traceSampled",
        "sourceLocation",
        "split",
        "errorGroups",
        "apphub",
        "apphubDestination",
    }
)
#: LogSeverity's values and their numbers
SEVERITY_RANK = {
    "DEFAULT": 0,
    "DEBUG": 100,
    "INFO": 200,
    "NOTICE": 300,
    "WARNING": 400,
    "ERROR": 500,
    "CRITICAL": 600,
    "ALERT": 700,
    "EMERGENCY": 800,
}
_TIME_FIELDS = ("timestamp", "receiveTimestamp")
_OPS = ("=~", "!~", ">=", "<=", "!=", "=", "<", ">", ":")
#: RE2 has no lookaround and no backreferences: the API refuses such a pattern
_NOT_RE2 = re.compile(r"\(\?[=!<]|\\[1-9]|\(\?P=")
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op>=~|!~|>=|<=|!=|=|<|>|:)
      | (?P<paren>[()])
      | (?P<word>[^\s()"=<>!:~]+)
    )""",
    re.VERBOSE,
)


class FilterError(ValueError):
    """The filter is not one the API would run; the message is the 400's."""


@dataclass(frozen=True)
class _Tok:
    kind: str  # string, op, paren, word
    text: str
    #: a space (or the start) came just before it
    spaced: bool


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    at = 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        found = _TOKEN.match(text, at)
        if found is None or found.end() == at:
            raise FilterError(f"unparsable filter at character {at}: {text[at : at + 20]!r}")
        kind = found.lastgroup or ""
        spaced = at == 0 or found.start(kind) > at or text[at - 1] in " \t\r\n("
        out.append(_Tok(kind, found.group(kind), spaced))
        at = found.end()
    return out


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


# --- the tree -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """`path op values` (several values: `FIELD = ("a" OR "b")`, any of them)."""

    path: tuple[str, ...]
    op: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Global:
    """A value alone: some field of the entry has it."""

    value: str


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Comparison | Global | Not | And | Or


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.at = 0

    def peek(self, offset: int = 0) -> _Tok | None:
        index = self.at + offset
        return self.toks[index] if index < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise FilterError("the filter ends where a term was expected")
        self.at += 1
        return tok

    def parse(self) -> Node:
        node = self.conjunction()
        if self.peek() is not None:
            raise FilterError(f"unexpected {self.take().text!r}")
        return node

    def conjunction(self) -> Node:
        """AND binds loosest; juxtaposed terms are ANDed too."""
        parts = [self.disjunction()]
        while (tok := self.peek()) is not None and not (tok.kind == "paren" and tok.text == ")"):
            if tok.kind == "word" and tok.text == "AND":
                self.take()
            parts.append(self.disjunction())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def disjunction(self) -> Node:
        parts = [self.unary()]
        while (tok := self.peek()) is not None and tok.kind == "word" and tok.text == "OR":
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def unary(self) -> Node:
        tok = self.peek()
        if tok is not None and tok.kind == "word" and tok.text == "NOT":
            self.take()
            return Not(self.unary())
        if tok is not None and tok.kind == "word" and tok.text.startswith("-") and tok.spaced:
            if tok.text == "-":
                nxt = self.peek(1)
                if nxt is None or nxt.spaced:
                    raise FilterError("a lone '-' negates nothing")
                self.take()
                return Not(self.unary())
            # `-term`: NOT of the term the rest of the word starts
            self.toks[self.at] = _Tok("word", tok.text[1:], False)
            return Not(self.unary())
        return self.primary()

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "paren" and tok.text == "(":
            node = self.conjunction()
            close = self.take()
            if close.text != ")":
                raise FilterError("unbalanced parentheses")
            return node
        if tok.kind == "op" or tok.kind == "paren":
            raise FilterError(f"unexpected {tok.text!r}")
        if tok.kind == "word" and tok.text in ("AND", "OR"):
            raise FilterError(f"{tok.text} needs a term on both sides")
        if tok.kind == "word":
            mark = self.at
            path = self.path(tok)
            nxt = self.peek()
            if path is not None and nxt is not None and nxt.kind == "op":
                op = self.take().text
                return Comparison(path, op, self.values())
            self.at = mark
            return Global(tok.text)
        nxt = self.peek()
        if nxt is not None and nxt.kind == "op":
            raise FilterError(f"not a field path: {tok.text!r}")
        return Global(_unquote(tok.text))

    def path(self, first: _Tok) -> tuple[str, ...] | None:
        """`a.b."c/d".e` as segments; None when the word is no path (an empty segment)."""
        segments: list[str] = []
        text = first.text
        while True:
            parts = text.split(".")
            if segments:  # after a quoted segment: `."c/d".e`
                if parts[0] != "":
                    return None
                parts = parts[1:]
            trailing = parts[-1] == ""
            parts = parts[:-1] if trailing else parts
            if not parts and not segments and not trailing:
                return None
            if any(part == "" for part in parts):
                return None
            segments.extend(parts)
            if not trailing:
                return tuple(segments)
            quoted = self.peek()
            if quoted is None or quoted.kind != "string" or quoted.spaced:
                return None
            self.take()
            segments.append(_unquote(quoted.text))
            after = self.peek()
            if (
                after is None
                or after.kind != "word"
                or after.spaced
                or not after.text.startswith(".")
            ):
                return tuple(segments)
            self.take()
            text = after.text

    def values(self) -> tuple[str, ...]:
        tok = self.take()
        if tok.kind in ("string", "word") and tok.text not in ("AND", "OR", "NOT"):
            return (_unquote(tok.text) if tok.kind == "string" else tok.text,)
        if tok.kind == "paren" and tok.text == "(":
            found = [self.values()[0]]
            while (nxt := self.peek()) is not None and nxt.text == "OR":
                self.take()
                found.append(self.values()[0])
            if self.take().text != ")":
                raise FilterError("a value list is ( v OR v ... )")
            return tuple(found)
        raise FilterError(f"a comparison needs a value, not {tok.text!r}")


def parse(text: str) -> Node:
    """The filter as a tree; FilterError for what the API would refuse."""
    node = _Parser(text).parse() if text.strip() else And(())
    _check(node)
    return node


def _check(node: Node) -> None:
    """Refuse, before any entry is read, what no entry could make sense of."""
    if isinstance(node, Not):
        _check(node.operand)
    elif isinstance(node, And | Or):
        for part in node.operands:
            _check(part)
    elif isinstance(node, Comparison):
        if node.path[0] not in ENTRY_FIELDS:
            raise FilterError(f"unknown LogEntry field {node.path[0]!r}")
        for value in node.values:
            if node.op in ("=~", "!~"):
                if _NOT_RE2.search(value):
                    raise FilterError(f"not an RE2 regular expression: {value!r}")
                try:
                    re.compile(value)
                except re.error as exc:
                    raise FilterError(f"invalid regular expression {value!r}: {exc}") from None
            elif node.path == ("severity",):
                _rank(value)
            elif node.path[0] in _TIME_FIELDS and node.op != ":":
                _when(value)


def _rank(value: str) -> int:
    if value.isdigit():
        return int(value)
    try:
        return SEVERITY_RANK[value.upper()]
    except KeyError:
        raise FilterError(f"unknown severity {value!r}") from None


def _when(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise FilterError(f"invalid timestamp {value!r}") from None
    if moment.tzinfo is None:
        raise FilterError(f"timestamp without a time zone: {value!r}")
    return moment.astimezone(UTC)


# --- matching -------------------------------------------------------------------------------

_MISSING = object()


def _resolve(entry: Any, path: tuple[str, ...]) -> Any:
    value = entry
    for segment in path:
        if not isinstance(value, dict) or segment not in value:
            return _MISSING
        value = value[segment]
    return value


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, bool):
        yield "true" if value else "false"
    elif value is not None:
        yield str(value)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _holds(comparison: Comparison, entry: dict[str, Any]) -> bool:
    path, op = comparison.path, comparison.op
    actual = _resolve(entry, path)
    if op == ":" and comparison.values == ("*",):
        return actual is not _MISSING
    if actual is _MISSING:
        if path == ("severity",):
            actual = "DEFAULT"  # an entry without one has severity DEFAULT
        else:
            return False
    return any(_one(path, op, actual, value) for value in comparison.values)


def _one(path: tuple[str, ...], op: str, actual: Any, value: str) -> bool:
    if op in ("=~", "!~"):
        found = any(re.search(value, leaf) for leaf in _leaves(actual))
        return found if op == "=~" else not found
    if op == ":":
        wanted = value.casefold()
        return any(wanted in leaf.casefold() for leaf in _leaves(actual))
    if path == ("severity",):
        return _compare(op, _rank(str(actual)), _rank(value))
    if path[0] in _TIME_FIELDS and isinstance(actual, str):
        return _compare(op, _when(actual), _when(value))
    if isinstance(actual, int | float) and not isinstance(actual, bool):
        number = _number(value)
        return number is not None and _compare(op, float(actual), number)
    if isinstance(actual, dict | list):
        return False
    left = next(_leaves(actual), "").casefold()
    return _compare(op, left, value.casefold())


def matches(node: Node, entry: dict[str, Any]) -> bool:
    """Does `entry` (LogEntry JSON) satisfy the filter?"""
    if isinstance(node, Comparison):
        return _holds(node, entry)
    if isinstance(node, Global):
        wanted = node.value.casefold()
        return any(wanted in leaf.casefold() for leaf in _leaves(entry))
    if isinstance(node, Not):
        return not matches(node.operand, entry)
    if isinstance(node, And):
        return all(matches(part, entry) for part in node.operands)
    return any(matches(part, entry) for part in node.operands)


# --- where matching entries can lie in time ------------------------------------------------

_EVER = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
Span = tuple[datetime, datetime]


def time_spans(node: Node) -> list[Span] | None:
    """Time spans (inclusive) holding every entry the filter can match, or None when it does
    not bound `timestamp` from below (the fake, like fivewhys, wants an explicit range)."""
    spans = _spans(node)
    if spans is None or any(start == _EVER[0] for start, _ in spans):
        return None
    return spans


def _spans(node: Node) -> list[Span] | None:
    """None: unbounded (any time)."""
    if isinstance(node, Comparison) and node.path == ("timestamp",) and len(node.values) == 1:
        moment = _when(node.values[0])
        bound: dict[str, Span] = {
            ">=": (moment, _EVER[1]),
            ">": (moment, _EVER[1]),
            "<=": (_EVER[0], moment),
            "<": (_EVER[0], moment),
            "=": (moment, moment),
        }
        return [bound[node.op]] if node.op in bound else None
    if isinstance(node, And):
        result: list[Span] | None = None
        for part in node.operands:
            spans = _spans(part)
            if spans is None:
                continue
            if result is None:
                result = spans
            else:
                result = [
                    (max(a, c), min(b, d))
                    for a, b in result
                    for c, d in spans
                    if max(a, c) <= min(b, d)
                ]
        return result
    if isinstance(node, Or):
        union: list[Span] = []
        for part in node.operands:
            spans = _spans(part)
            if spans is None:
                return None
            union.extend(spans)
        return union
    return None


def compile_filter(text: str) -> tuple[Callable[[dict[str, Any]], bool], list[Span] | None]:
    """A predicate for the filter and the time spans it can match in (see `time_spans`)."""
    node = parse(text)
    return (lambda entry: matches(node, entry)), time_spans(node)
