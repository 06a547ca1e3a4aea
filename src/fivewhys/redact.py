"""Secrets never reach a report: JWTs, jwt.<base64> subprotocols, bearer tokens, API keys, cookies.

Applied to the whole Report just before rendering, so every renderer gets the same clean text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import polars as pl
from pydantic import BaseModel

from fivewhys.model import Report

MARK = "[REDACTED]"

_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # Cookie headers: everything up to the end of the line is session material
    (re.compile(r"(?i)\b((?:set-)?cookie['\"]?\s*[:=]\s*)[^\n]+"), rf"\1{MARK}"),
    # Authorization: Bearer/Basic/Token <credential>
    (
        re.compile(
            r"(?i)\b(authorization['\"]?\s*[:=]\s*['\"]?)(?:(bearer|basic|token|digest)\s+)?"
            r"[^\s'\",;]+"
        ),
        lambda m: f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}{MARK}",
    ),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\1{MARK}"),
    # websockets subprotocol carrying a token: "jwt.<base64url>"
    (re.compile(r"\b(jwt\.)[A-Za-z0-9_=+/-]{8,}(?:\.[A-Za-z0-9_=+/-]+)*"), rf"\1{MARK}"),
    # a bare JWT: header.payload.signature, header always starts with eyJ ('{"')
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MARK),
    # Google API keys
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), MARK),
    # key=value / "key": "value" for secret-named keys (query strings, JSON, headers)
    (
        re.compile(
            r"(?i)(['\"]?\b(?:api[_-]?key|x-api-key|access[_-]?token|refresh[_-]?token|id[_-]?token"
            r"|auth[_-]?token|token|secret|client[_-]?secret|password|passwd|session[_-]?id)\b['\"]?"
            r"\s*[:=]\s*['\"]?)(?!\[REDACTED)[^\s'\",;&)}]{4,}"
        ),
        rf"\1{MARK}",
    ),
)


#: a literal part of every pattern above, case-blind where the pattern is: a string holding
#: none of them holds no secret, and most report strings hold none
_CASE_BLIND_PARTS: tuple[str, ...] = ("cookie", "authorization", "bearer", "jwt.", "key", "token")
_CASE_BLIND_PARTS += ("secret", "passw", "session")
_EXACT_PARTS = ("eyJ", "AIza")
#: the same as one regex with the patterns' case rules, so the same Unicode case equivalences
#: (the long s matches "s", the Kelvin sign "k"): for text that is not ASCII
_MAY_HOLD_A_SECRET = re.compile(
    "(?i:" + "|".join(map(re.escape, _CASE_BLIND_PARTS)) + ")|" + "|".join(_EXACT_PARTS)
)


def _may_hold_a_secret(text: str) -> bool:
    if text.isascii():  # substring tests: many times faster than a case-blind regex
        lowered = text.lower()
        return any(part in text for part in _EXACT_PARTS) or any(
            part in lowered for part in _CASE_BLIND_PARTS
        )
    return _MAY_HOLD_A_SECRET.search(text) is not None


@lru_cache(maxsize=1 << 16)
def redact_text(text: str) -> str:
    """`text` with every secret-looking value replaced by [REDACTED]."""
    return _substitute(text) if _may_hold_a_secret(text) else text


def _substitute(text: str) -> str:
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


#: LogFrame columns that hold free text a secret can hide in
TEXT_COLUMNS = ("message", "template", "raw")


def redact_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """A LogFrame whose free-text columns are redacted: what a bundle on disk may hold. The
    quick check runs in polars; only the rows it keeps (few) go through the patterns."""
    columns = []
    for name in TEXT_COLUMNS:
        column = frame.get_column(name)
        rows = column.to_frame().select(_may_hold_a_secret_expr(pl.col(name))).to_series()
        where = rows.fill_null(False).arg_true()
        if where.len():
            redacted = column.gather(where).map_elements(redact_text, return_dtype=pl.String)
            column = column.scatter(where, redacted)
        columns.append(column)
    return frame.with_columns(columns)


def _may_hold_a_secret_expr(text: pl.Expr) -> pl.Expr:
    """_may_hold_a_secret as a column expression: text that is not ASCII is always checked by
    the patterns themselves (Python's case rules are theirs)."""
    return (
        ~text.str.contains(r"^[\x00-\x7f]*$")
        | text.str.contains_any(list(_EXACT_PARTS))
        | text.str.contains_any(list(_CASE_BLIND_PARTS), ascii_case_insensitive=True)
    )


def _redacted(value: Any) -> Any:
    """`value` with every string in it redacted; the very same object when nothing changed, so
    the clean bulk of a report (nearly all of it) is neither copied nor validated again."""
    if isinstance(value, str):
        clean = redact_text(value)
        return value if clean == value else clean
    if isinstance(value, BaseModel):
        changes = {}
        for name in type(value).model_fields:
            old = getattr(value, name)
            new = _redacted(old)
            if new is not old:
                changes[name] = new
        return value.model_copy(update=changes) if changes else value
    if isinstance(value, list | tuple):
        items = [_redacted(item) for item in value]
        same = all(new is old for new, old in zip(items, value, strict=True))
        return value if same else type(value)(items)
    if isinstance(value, dict):
        pairs = [(_redacted(k), _redacted(v)) for k, v in value.items()]
        same = all(
            k is old_k and v is old_v
            for (k, v), (old_k, old_v) in zip(pairs, value.items(), strict=True)
        )
        return value if same else dict(pairs)
    return value


def redact_report(report: Report) -> Report:
    """A copy of the report with every string redacted (ids and times are untouched by design)."""
    redacted: Report = _redacted(report)
    return redacted
