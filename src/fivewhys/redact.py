"""Secrets never reach an output: one list of the kinds of secret we know (`KINDS`), applied to
every report, the CI annotations and step summary, the rule tools' output, history and bundles.

The formats follow public secret scanners (gitleaks' rules and detect-secrets' plugins: the
prefixes, alphabets and lengths of each vendor's tokens). Every kind names literal hints, one of
which any match holds: a string holding none of them is left alone without running a pattern,
and most strings hold none.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import polars as pl
from pydantic import BaseModel

from fivewhys.controls import escape_controls
from fivewhys.logs.frame import LOGFRAME_SCHEMA
from fivewhys.model import Report

MARK = "[REDACTED]"

Replacement = str | Callable[[re.Match[str]], str]


@dataclass(frozen=True)
class SecretKind:
    """One kind of secret: what it is, how it looks, what replaces it."""

    name: str
    what: str
    pattern: re.Pattern[str]
    replacement: Replacement
    #: literal parts, one of which every match holds (case-blind unless `exact`)
    hints: tuple[str, ...]
    exact: bool = False


def _basic_credentials(match: re.Match[str]) -> str:
    """`Basic <base64 of user:password>`: redacted only when it decodes to a `user:password`,
    so `Basic authentication failed` stays."""
    token = match.group(2)
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return match.group(0)
    return f"{match.group(1)}{MARK}" if ":" in decoded and decoded.isprintable() else match.group(0)


#: key names whose value is a secret, in key=value, key: value and JSON (escaped JSON too)
_SECRET_NAMES = (
    r"api[_-]?key|apikey|x-api-key|access[_-]?token|refresh[_-]?token|id[_-]?token"
    r"|auth[_-]?token|token|secret|client[_-]?secret|secret[_-]?(?:access[_-]?)?key"
    r"|private[_-]?key|password|passwd|pwd|session[_-]?id"
)
#: a secret name as a whole word: `db_password` and `x-api-key` are names, `mypassword` is not
_NAME = rf"(?<![A-Za-z0-9])(?:{_SECRET_NAMES})(?![A-Za-z0-9])"
#: an opening quote, maybe JSON-escaped (`\"` inside a log entry kept as JSON text)
_QUOTE = r"\\?[\"']"

KINDS: tuple[SecretKind, ...] = (
    SecretKind(
        "private-key",
        "PEM private keys (RSA, EC, OpenSSH, PKCS#8, PGP), raw or JSON-escaped with `\\n` as in "
        "a service-account key file, up to the END line (or the end of the text when cut)",
        re.compile(
            r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
            r"(?:.*?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|(?:[\w+/=\s]|\\[nr])*)",
            re.DOTALL,
        ),
        MARK,
        ("PRIVATE KEY",),
        exact=True,
    ),
    SecretKind(
        "cookie",
        "`Cookie:` and `Set-Cookie:` values, to the end of the line (or of a quoted value)",
        re.compile(
            rf"(?i)(?<![A-Za-z0-9])((?:set-)?cookie(?:{_QUOTE})?\s*[:=]\s*)"
            rf"(?!(?:{_QUOTE})?\[REDACTED)(?:(\\?[\"'])(?:(?!\2).)*|[^\n]+)"
        ),
        lambda m: f"{m.group(1)}{m.group(2) or ''}{MARK}",
        ("cookie",),
    ),
    SecretKind(
        "authorization",
        "`Authorization:` header values with their scheme kept (Bearer, Basic, Token, Digest)",
        re.compile(
            rf"(?i)\b((?:proxy-)?authorization(?:{_QUOTE})?\s*[:=]\s*(?:{_QUOTE})?)"
            r"(?:(bearer|basic|token|digest)\s+)?(?!\[REDACTED)[^\s'\",;\\]+"
        ),
        lambda m: f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}{MARK}",
        ("authorization",),
    ),
    SecretKind(
        "bearer",
        "bearer tokens anywhere (`Bearer <token>`: RFC 6750's b64token, holding a digit, so "
        "`Bearer authentication` stays)",
        re.compile(
            r"(?i)\b(bearer\s+)(?=[A-Za-z._~+/-]*[0-9])[A-Za-z0-9._~+/-]{8,}=*(?![A-Za-z0-9._~+/=-])"
        ),
        rf"\1{MARK}",
        ("bearer",),
    ),
    SecretKind(
        "basic",
        "HTTP basic credentials anywhere (`Basic <base64 of user:password>`)",
        re.compile(r"(?i)\b(basic\s+)([A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])"),
        _basic_credentials,
        ("basic",),
    ),
    SecretKind(
        "jwt-subprotocol",
        "WebSocket subprotocols carrying a token: `jwt.<base64url>`",
        re.compile(r"\b(jwt\.)(?!\[REDACTED)[A-Za-z0-9_=+/-]{8,}(?:\.[A-Za-z0-9_=+/-]+)*"),
        rf"\1{MARK}",
        ("jwt.",),
    ),
    SecretKind(
        "jwt",
        'JSON Web Tokens: header.payload.signature, the header always `eyJ` (`{"`)',
        re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
        MARK,
        ("eyJ",),
        exact=True,
    ),
    SecretKind(
        "google-api-key",
        "Google API keys: `AIza` and 35 of `[A-Za-z0-9_-]` (one may end in `-`)",
        re.compile(r"(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])"),
        MARK,
        ("AIza",),
        exact=True,
    ),
    SecretKind(
        "google-oauth",
        "Google OAuth access tokens (`ya29.`), refresh tokens (`1//0`) and client secrets "
        "(`GOCSPX-`)",
        re.compile(
            r"(?<![A-Za-z0-9_-])(?:ya29\.[A-Za-z0-9_-]{16,}|1//0[A-Za-z0-9_-]{20,}"
            r"|GOCSPX-[A-Za-z0-9_-]{20,})"
        ),
        MARK,
        ("ya29.", "1//0", "GOCSPX-"),
        exact=True,
    ),
    SecretKind(
        "aws-access-key-id",
        "AWS access key ids: `AKIA`, `ASIA`, `ABIA`, `ACCA` or `A3T` and one more, then 16 of "
        "`[A-Z0-9]`",
        re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b"),
        MARK,
        ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
        exact=True,
    ),
    SecretKind(
        "github-token",
        "GitHub tokens: `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` and fine-grained `github_pat_`",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
        MARK,
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        exact=True,
    ),
    SecretKind(
        "slack-token",
        "Slack tokens: `xoxb-`, `xoxp-`, `xoxa-`, `xoxs-`, `xoxe-`, `xoxr-`, `xoxo-` and app "
        "tokens `xapp-`",
        re.compile(r"\b(?:xox[abeoprs]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,})"),
        MARK,
        ("xox", "xapp-"),
        exact=True,
    ),
    SecretKind(
        "stripe-key",
        "Stripe secret and restricted keys: `sk_` / `rk_`, then `live_`, `test_` or `prod_`",
        re.compile(r"\b[sr]k_(?:live|test|prod)_[A-Za-z0-9]{10,99}\b"),
        MARK,
        ("k_live_", "k_test_", "k_prod_"),
        exact=True,
    ),
    SecretKind(
        "url-password",
        "passwords in URLs: `scheme://user:password@host` (the user is kept)",
        re.compile(
            r"(?i)\b([a-z][a-z0-9+.-]{1,20}://[^\s:/?#@\[\]'\"]*:)(?!\[REDACTED)[^\s/?#'\"]+@"
        ),
        rf"\1{MARK}@",
        ("@",),
        exact=True,
    ),
    SecretKind(
        "url-query-secret",
        "secret query parameters: `?key=`, `&sig=`, `&signature=`, `X-Goog-Signature=`, "
        "`X-Amz-Signature=`, `X-Amz-Security-Token=`, `X-Amz-Credential=`, `?code=` (not `key=` "
        "in a path)",
        re.compile(
            r"(?i)([?&](?:key|sig|signature|code|x-goog-signature|x-amz-signature"
            r"|x-amz-security-token|x-amz-credential)=)(?!\[REDACTED)[^&#\s'\"]+"
        ),
        rf"\1{MARK}",
        ("?key=", "&key=", "?sig", "&sig", "?code=", "&code=", "x-goog-", "x-amz-"),
    ),
    SecretKind(
        "named-quoted",
        "quoted values of secret-named keys: `\"password\": \"...\"`, `'token': '...'`, JSON kept "
        'as text (`\\"client_secret\\": \\"...\\"`)',
        re.compile(
            rf"(?i)({_NAME}(?:{_QUOTE})?\s*[:=]\s*({_QUOTE}))(?!\[REDACTED)"
            r"(?:(?!\2)(?:[^\n\\]|\\[^\n]))+(?=\2)"
        ),
        rf"\1{MARK}",
        ("key", "token", "secret", "passw", "pwd", "session"),
    ),
    SecretKind(
        "named-value",
        "unquoted values of secret-named keys: `password=`, `client_secret=`, `?token=`, "
        "`access_token=`, `aws_secret_access_key=`, `api_key: ...`",
        re.compile(
            rf"(?i)({_NAME}(?:{_QUOTE})?\s*[:=]\s*)(?!{_QUOTE}|\[REDACTED)[^\s'\",;&)}}\\]{{4,}}"
        ),
        rf"\1{MARK}",
        ("key", "token", "secret", "passw", "pwd", "session"),
    ),
)


#: the hints of every kind, case-blind or exact: a string holding none of them holds no secret
_CASE_BLIND_PARTS: tuple[str, ...] = tuple(
    dict.fromkeys(h.lower() for kind in KINDS if not kind.exact for h in kind.hints)
)
_EXACT_PARTS: tuple[str, ...] = tuple(
    dict.fromkeys(h for kind in KINDS if kind.exact for h in kind.hints)
)
#: the same as one regex with the patterns' case rules, so the same Unicode case equivalences
#: (the long s matches "s", the Kelvin sign "k"): for text that is not ASCII
_MAY_HOLD_A_SECRET = re.compile(
    "(?i:"
    + "|".join(map(re.escape, _CASE_BLIND_PARTS))
    + ")|"
    + "|".join(map(re.escape, _EXACT_PARTS))
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
    """`text` with every secret of every kind replaced by [REDACTED]."""
    return _substitute(text) if _may_hold_a_secret(text) else text


def _substitute(text: str) -> str:
    """Every kind whose hints the text holds, in order (ASCII text skips the others; text
    that is not ASCII runs them all, since case-blind matching there goes beyond ASCII)."""
    ascii_only = text.isascii()
    lowered = text.lower()
    for kind in KINDS:
        if ascii_only and not any(
            (hint in text) if kind.exact else (hint.lower() in lowered) for hint in kind.hints
        ):
            continue
        new = kind.pattern.sub(kind.replacement, text)
        if new != text:
            text, lowered = new, new.lower()
    return text


@lru_cache(maxsize=1 << 16)
def clean_text(text: str) -> str:
    """Text from outside as it may be shown: secrets redacted, control characters and CI
    command marks escaped (controls.escape_controls)."""
    return escape_controls(redact_text(text))


#: every text column of a LogFrame: a secret can hide in any (a path, a user agent, an id)
TEXT_COLUMNS = tuple(name for name, dtype in LOGFRAME_SCHEMA.items() if dtype == pl.String())


#: text columns holding JSON (logs.entry.origin): redacted value by value, so they stay JSON
JSON_COLUMNS = ("raw",)


def _redact_json_text(text: str) -> str:
    """JSON text with every string in it redacted, still JSON (sorted, compact, as the column
    is written); text that is not JSON is redacted as text."""
    try:
        data = json.loads(text)
    except ValueError:
        return redact_text(text)
    clean = _cleaned(data, redact_text)
    return text if clean is data else json.dumps(clean, sort_keys=True, separators=(",", ":"))


def redact_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """A LogFrame whose text columns are redacted: what a bundle on disk may hold. The quick
    check runs in polars; only the rows it keeps (few) go through the patterns."""
    columns = []
    for name in TEXT_COLUMNS:
        column = frame.get_column(name)
        rows = column.to_frame().select(_may_hold_a_secret_expr(pl.col(name))).to_series()
        where = rows.fill_null(False).arg_true()
        if where.len():
            redact = _redact_json_text if name in JSON_COLUMNS else redact_text
            redacted = column.gather(where).map_elements(redact, return_dtype=pl.String)
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


def _cleaned(value: Any, clean: Callable[[str], str] = clean_text) -> Any:
    """`value` with every string in it cleaned; the very same object when nothing changed, so
    the clean bulk of a report (nearly all of it) is neither copied nor validated again."""
    if isinstance(value, str):
        new = clean(value)
        return value if new == value else new
    if isinstance(value, BaseModel):
        changes = {}
        for name in type(value).model_fields:
            old = getattr(value, name)
            new = _cleaned(old, clean)
            if new is not old:
                changes[name] = new
        return value.model_copy(update=changes) if changes else value
    if isinstance(value, list | tuple):
        items = [_cleaned(item, clean) for item in value]
        same = all(new is old for new, old in zip(items, value, strict=True))
        return value if same else type(value)(items)
    if isinstance(value, dict):
        pairs = [(_cleaned(k, clean), _cleaned(v, clean)) for k, v in value.items()]
        same = all(
            k is old_k and v is old_v
            for (k, v), (old_k, old_v) in zip(pairs, value.items(), strict=True)
        )
        return value if same else dict(pairs)
    return value


def clean_report(report: Report) -> Report:
    """A copy of the report with every string cleaned (clean_text): what every renderer gets.
    Cleaning twice changes nothing, so a report with text added later is cleaned again."""
    cleaned: Report = _clean_tree(report)
    return cleaned


def _clean_tree(value: Any) -> Any:
    """_cleaned(value) with each distinct string cleaned once (a report repeats its services,
    kinds, templates and paths across thousands of nodes) and the quick checks run over all
    of them in one polars pass; `value` itself when no string changed (nearly always)."""
    strings = _strings_of(value)
    new = _clean_all(strings)
    changed = {old: text for old, text in zip(strings, new, strict=True) if text != old}
    return _cleaned(value, lambda text: changed.get(text, text)) if changed else value


#: values that hold no string: not walked (everything else is, whatever its type says)
_LEAVES = frozenset({int, float, bool, type(None), datetime, date, timedelta})


def _strings_of(value: Any) -> list[str]:
    """Every distinct string in `value` (models, lists, tuples, dicts' keys and values), in no
    particular order: the nodes _cleaned would clean."""
    found: dict[str, None] = {}
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str:
            found[item] = None
        elif kind in _LEAVES:
            continue
        elif isinstance(item, str):
            found[item] = None
        elif isinstance(item, BaseModel):
            for field in item.__dict__.values():  # a model's fields, and its extras if any
                if type(field) is str:
                    found[field] = None
                elif type(field) not in _LEAVES:
                    push(field)
        elif isinstance(item, list | tuple):
            extend(item)
        elif isinstance(item, dict):
            extend(item.keys())
            extend(item.values())
    return list(found)


def _clean_all(strings: list[str]) -> list[str]:
    """clean_text of each string. The ASCII ones (nearly all) are checked in one polars pass
    first: one holding no hint of a secret (the substring tests of _may_hold_a_secret) and
    nothing escape_controls acts on in ASCII (a C0 control but tab and newline, DEL, `::`,
    `##`) comes back as it is; the rest take clean_text one by one."""
    ascii_rows = [index for index, text in enumerate(strings) if text.isascii()]
    #: per string: None as it is, else whether it may hold a secret (else only escaped: the
    #: `::` of every test id, 50,000 in a big run, needs no redaction)
    check: list[bool | None] = [True] * len(strings)
    if ascii_rows:
        text = pl.col("text")
        column = pl.Series("text", [strings[index] for index in ascii_rows], dtype=pl.String)
        checked = column.to_frame().select(
            secret=_may_hold_a_secret_expr(text),
            control=text.str.contains(r"[\x00-\x08\x0b-\x1f\x7f]|::|##"),
        )
        secret, control = checked.get_column("secret"), checked.get_column("control")
        for index, may, acts in zip(ascii_rows, secret.to_list(), control.to_list(), strict=True):
            check[index] = True if may else False if acts else None
    return [
        text if hit is None else clean_text(text) if hit else escape_controls(text)
        for text, hit in zip(strings, check, strict=True)
    ]
