"""Extraction of correlation ids and client events from free text, and masking into templates.

Both sides use these: failures (message, details, captured output, properties) and log lines
(message text, when the entry has no id fields), so one set of patterns decides what joins.
The vectorized log reader needs the same masking and id patterns on polars columns: their twins
for polars' regex engine (which has no look-around) sit at the end, next to what they copy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

import polars as pl

from fivewhys.linear_regex import LinearRegex
from fivewhys.model import ClientEvent, Ids

_ID = r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}"

#: values loggers print for "no id": never a correlation id
NULLISH_IDS = frozenset({"none", "null", "nil", "undefined", "unknown", "n/a", "-", "redacted"})


def _keyed(*names: str, lookahead: bool = True) -> tuple[str, ...]:
    """Default patterns for an id field named any of `names`: JSON, key=value, key: value.

    Without `lookahead` (for polars), the last pattern consumes the character that ends the id
    instead of looking at it: the same ids are found, as id characters never end an id.
    """
    alt = "|".join(names)
    end = r"(?=['\"\s,;)}\]]|$)" if lookahead else r"(?:['\"\s,;)}\]]|$)"
    return (
        rf'"(?:{alt})"\s*:\s*"({_ID})"',
        rf"'(?:{alt})'\s*:\s*'({_ID})'",
        rf"\b(?:{alt})\s*[=:]\s*['\"]?({_ID}){end}",
    )


_CONNECTION_NAMES = ("connection_id", "connectionId", "conn_id", "websocket_id")
_USER_NAMES = ("user_id", "userId", "uid")
DEFAULT_CONNECTION_ID = _keyed(*_CONNECTION_NAMES)
DEFAULT_USER_ID = _keyed(*_USER_NAMES)
DEFAULT_TRACE = (
    r"(?i)x-cloud-trace-context['\"]?\s*[:=]\s*['\"]?([0-9a-f]{32})",
    r"(?i)traceparent['\"]?\s*[:=]\s*['\"]?[0-9a-f]{2}-([0-9a-f]{32})-",
    r"projects/[^/\s\"']+/traces/([0-9a-f]{32})",
    r"(?i)\btrace(?:_id|Id)?['\"]?\s*[:=]\s*['\"]?([0-9a-f]{32})\b",
)

#: property names (record_property / user_properties) that carry an id directly
PROPERTY_KEYS: dict[str, tuple[str, ...]] = {
    "connection_ids": ("connection_id", "connectionId", "conn_id", "websocket_id"),
    "user_ids": ("user_id", "userId", "uid"),
    "traces": ("trace", "trace_id", "traceId", "x-cloud-trace-context", "traceparent"),
}


@dataclass(frozen=True)
class IdPatterns:
    """Regexes with one capture group each, per id kind. Configurable in `[tool.fivewhys.ids]`."""

    connection_id: tuple[str, ...] = DEFAULT_CONNECTION_ID
    user_id: tuple[str, ...] = DEFAULT_USER_ID
    trace: tuple[str, ...] = DEFAULT_TRACE
    _compiled: dict[str, tuple[re.Pattern[str] | LinearRegex, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def compiled(self, kind: str) -> tuple[re.Pattern[str] | LinearRegex, ...]:
        """Our defaults on Python's engine (bounded; some look ahead), configured ones on RE2."""
        if kind not in self._compiled:
            ours = set(_DEFAULTS[kind])
            self._compiled[kind] = tuple(
                re.compile(p) if p in ours else LinearRegex(p) for p in getattr(self, kind)
            )
        return self._compiled[kind]


DEFAULT_PATTERNS = IdPatterns()
_DEFAULTS = {
    "connection_id": DEFAULT_CONNECTION_ID,
    "user_id": DEFAULT_USER_ID,
    "trace": DEFAULT_TRACE,
}


def _find_all(patterns: tuple[re.Pattern[str] | LinearRegex, ...], text: str) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        if isinstance(pattern, LinearRegex):
            found.extend(pattern.group_values(text))
        else:
            found.extend(m.group(1) for m in pattern.finditer(text) if m.group(1))
    return found


def is_real_id(value: str) -> bool:
    """False for empty values and placeholders such as `None`, `null` or `REDACTED`."""
    text = value.strip()
    return bool(text) and text.lower() not in NULLISH_IDS


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if is_real_id(v)))


def normalize_trace(value: str) -> str | None:
    """A bare 32-hex trace id from `projects/P/traces/T`, `T/span;o=1` or a traceparent."""
    match = re.search(r"(?<![0-9a-fA-F])([0-9a-fA-F]{32})(?![0-9a-fA-F])", value)
    return match.group(1).lower() if match else None


_SECTION_HEADER = re.compile(r"^-{3,} .+ -{3,}$")


def observed_text(details: str) -> str:
    """The parts of a pytest failure text that show values, not source code.

    Traceback source lines (indented, or marked `>`) name variables and literals the test may
    never have used (`log(connection_id="conn_other")`), so ids come from everything else:
    `E` lines, argument reprs, locations and captured output, which is kept whole.
    """
    kept: list[str] = []
    in_section = False
    for line in details.splitlines():
        if _SECTION_HEADER.match(line.strip()):
            in_section = "Captured" in line or "captured" in line
            kept.append(line)
            continue
        if in_section or not (line.startswith((" ", "\t", ">"))):
            kept.append(line)
    return "\n".join(kept)


def extract_ids(
    texts: list[str],
    properties: dict[str, str] | None = None,
    patterns: IdPatterns = DEFAULT_PATTERNS,
) -> Ids:
    """Every connection id, user id and trace named in `texts` or `properties`, first seen first."""
    found: dict[str, list[str]] = {"connection_ids": [], "user_ids": [], "traces": []}
    for key, value in (properties or {}).items():
        for kind, names in PROPERTY_KEYS.items():
            if key in names and value:
                found[kind].append(normalize_trace(value) or "" if kind == "traces" else value)
    for text in texts:
        if not text:
            continue
        found["connection_ids"] += _find_all(patterns.compiled("connection_id"), text)
        found["user_ids"] += _find_all(patterns.compiled("user_id"), text)
        found["traces"] += [t.lower() for t in _find_all(patterns.compiled("trace"), text)]
    return Ids(**{kind: _unique(values) for kind, values in found.items()})


_EXCEPTION = re.compile(
    r"^(?:E\s+)?(?:[A-Za-z_]\w*\.)*([A-Z]\w*(?:Error|Exception|Closed\w*|Status\w*|Timeout"
    r"|Message|Exit|Interrupt|Failed|Warning))(?::|$|\s)",
    re.MULTILINE,
)
_CLOSE = re.compile(r"\b(received|sent) (\d{4}) \(([^)]*)\)[ ]?([^;\n]*)")
_NO_CLOSE = re.compile(r"no close frame received or sent")
_HANDSHAKE_STATUS = re.compile(r"server rejected WebSocket connection: HTTP (\d{3})")
_HTTPX_STATUS = re.compile(
    r"(?:Informational response|Redirect response|Client error|Server error|Success|"
    r"Error response) '(\d{3})[^']*' for url '([^']+)'"
)
_GENERIC_STATUS = re.compile(r"\b(?:HTTP[/ ]?(?:1\.[01]|2)? ?|status(?:_code)?[=: ]+)(\d{3})\b")
_WS_URL = re.compile(r"\b(?:wss?|https?)://[^\s'\"<>]+")
_TIMEOUT = re.compile(
    r"timed out|Timeout(?:Error)?\b|ReadTimeout|ConnectTimeout|WriteTimeout|PoolTimeout|"
    r"keepalive ping timeout",
    re.IGNORECASE,
)


def _raised_lines(message: str, details: str) -> str:
    """The message and the traceback's `E ` lines: where a URL is the one actually used.

    Other traceback lines show source and arguments (`ws_url = 'ws://host'`), not the failure.
    """
    raised = [line for line in details.splitlines() if line.startswith("E ")]
    return "\n".join([message, *raised])


def extract_client_event(message: str, details: str = "") -> ClientEvent:
    """What the client saw, from the failure message first and the traceback second."""
    text = f"{message}\n{details}"
    exc = _EXCEPTION.search(message) or _EXCEPTION.search(details)
    close = _CLOSE.search(text)
    code: int | None = None
    reason: str | None = None
    direction: Literal["received", "sent"] | None = None
    if close:
        direction = "received" if close.group(1) == "received" else "sent"
        code, reason = int(close.group(2)), close.group(4).strip()
    elif _NO_CLOSE.search(text):
        code = 1006
    status: int | None = None
    url: str | None = None
    if m := _HANDSHAKE_STATUS.search(text):
        status = int(m.group(1))
    elif m := _HTTPX_STATUS.search(text):
        status, url = int(m.group(1)), m.group(2)
    elif m := _GENERIC_STATUS.search(message):
        status = int(m.group(1))
    if url is None and (m := _WS_URL.search(_raised_lines(message, details))):
        url = m.group(0).rstrip(".,):")
    return ClientEvent(
        exception_type=exc.group(1) if exc else None,
        close_code=code,
        close_reason=reason or None,
        close_direction=direction,
        http_status=status,
        url_path=_url_path(url) if url else None,
        timeout=bool(_TIMEOUT.search(message) or (exc and "Timeout" in exc.group(1))),
    )


def _url_path(url: str) -> str | None:
    """The path of a URL from a failure message; None when it is broken (`http://[::1/x`)."""
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return None


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    # the value of any *_id / *Id field is variable by definition
    (
        re.compile(r"""\b(\w*(?:_id|Id|ID))(["']?\s*[=:]\s*["']?)(?!<)[^\s"',;)}\]]+"""),
        r"\1\2<ID>",
    ),
    (re.compile(r"\beyJ[\w-]*\.[\w-]+\.[\w-]*"), "<JWT>"),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?: ?(?:Z|[+-]\d{2}:?\d{2}))?\b"
        ),
        "<TS>",
    ),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+"), "<URL>"),
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<UUID>",
    ),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<IP>"),
    (re.compile(r"(?:/[\w.@-]+){2,}\.py\b|(?:/[\w.@-]+){3,}"), "<PATH>"),
    (re.compile(r"\b(?:0x)?[0-9a-fA-F]*\d[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\b(?<=\w{8})"), "<HEX>"),
    (re.compile(r"\b(?:0x)?[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\d[0-9a-fA-F]*\b(?<=\w{8})"), "<HEX>"),
    (re.compile(r"\b[A-Za-z]+_[A-Za-z0-9_]*\d[A-Za-z0-9_]*\b"), "<ID>"),
    (re.compile(r"(?<![\w<])[-+]?\d+(?:\.\d+)?(?:ms|s|us)?\b"), "<NUM>"),
)


def strip_ansi(text: str) -> str:
    """Text without terminal colour codes (loguru and friends write them into Cloud Logging)."""
    return _ANSI.sub("", text)


def mask(text: str) -> str:
    """The line's template: variable tokens (ids, numbers, hex, UUIDs, IPs, times, paths) masked.

    Matching and grouping run on templates, so a million lines become a few thousand strings.
    """
    out = strip_ansi(text).strip()
    for pattern, token in _MASKS:
        out = pattern.sub(token, out)
    return " ".join(out.split())


# --- the same on polars columns ------------------------------------------------------------------
# Each pattern below is the twin of one above for polars' regex engine, which has no look-around;
# tests/test_logs_fast.py holds the twins equal on real and generated lines.

#: characters on which Python's and polars' `\w`, `\s` or `\b` disagree (marks, other numbers,
#: connector punctuation, joiners, the C0 separators Python counts as space), and the two
#: private-use characters `mask_expr` borrows as markers: text holding any goes through `mask`
ENGINE_SENSITIVE = (
    r"[\p{M}\p{No}[\p{Pc}--_][\p{Alphabetic}--\p{L}--\p{Nl}]\x{200C}\x{200D}\x1c-\x1f"
    r"\x{E000}\x{E001}]"
)
_ANSI_RUST = r"\x1b\[[0-9;?]*[ -/]*[@-~]"
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
_HEX_RUST = (
    r"(?:0x)?(?:[0-9a-fA-F]*\d[0-9a-fA-F]*[a-fA-F]|[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\d)[0-9a-fA-F]*"
)
_MASKS_RUST: tuple[tuple[str, str], ...] = (
    # (?!<)[^...]+ is [^...<][^...]*
    (
        r"""\b(\w*(?:_id|Id|ID))(["']?\s*[=:]\s*["']?)[^\s"',;)}\]<][^\s"',;)}\]]*""",
        "${1}${2}<ID>",
    ),
    *((pattern.pattern, token) for pattern, token in _MASKS[1:7]),
    # `\b...\b(?<=\w{8})` is a whole hex word of 8 characters or more: mark those words, mask
    # the marked ones holding a digit and a letter, drop the marks left
    (r"\b(?:0x[0-9a-fA-F]{6,}|[0-9a-fA-F]{8,})\b", f"{_MARK_OPEN}${{0}}{_MARK_CLOSE}"),
    (f"{_MARK_OPEN}{_HEX_RUST}{_MARK_CLOSE}", "<HEX>"),
    (f"[{_MARK_OPEN}{_MARK_CLOSE}]", ""),
    (_MASKS[9][0].pattern, "<ID>"),
    # (?<![\w<])X is (^|[^\w<])X, keeping the character: a number never follows a match
    (r"(^|[^\w<])[-+]?\d+(?:\.\d+)?(?:ms|s|us)?\b", "${1}<NUM>"),
)


def mask_expr(text: pl.Expr) -> pl.Expr:
    """`mask` as a column expression, for text without `ENGINE_SENSITIVE` characters."""
    out = text.str.replace_all(_ANSI_RUST, "").str.strip_chars()
    for pattern, token in _MASKS_RUST:
        out = out.str.replace_all(pattern, token)
    return out.str.replace_all(r"\s{2,}|[^\S ]", " ").str.strip_chars()


def polars_id_patterns(patterns: IdPatterns) -> dict[str, tuple[str, ...]] | None:
    """Twins of `patterns` for polars, by id kind; None for configured ones (Python only)."""
    if patterns != DEFAULT_PATTERNS:
        return None
    return {
        "connection_id": _keyed(*_CONNECTION_NAMES, lookahead=False),
        "user_id": _keyed(*_USER_NAMES, lookahead=False),
        "trace": DEFAULT_TRACE,
    }
