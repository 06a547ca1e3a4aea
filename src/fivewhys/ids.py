"""Extraction of correlation ids and client events from free text, and masking into templates.

Both sides use these: failures (message, details, captured output, properties) and log lines
(message text, when the entry has no id fields), so one set of patterns decides what joins.
The vectorized log reader needs the same masking and id patterns on polars columns: their twins
for polars' regex engine (which has no look-around) sit at the end, next to what they copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
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
        elif (starts := _STARTS.get(pattern.pattern)) is not None:
            found.extend(m.group(1) for m in _from_starts(pattern, starts, text) if m.group(1))
        else:
            found.extend(m.group(1) for m in pattern.finditer(text) if m.group(1))
    return found


def _from_starts(pattern: re.Pattern[str], starts: _Starts, text: str) -> list[re.Match[str]]:
    """`pattern.finditer(text)`, tried only where a literal every match holds is found (`re`
    tries a pattern opening with `\\b`, an alternation or `(?i)` at every character)."""
    literals, offset, lowered = starts
    haystack = text.lower() if lowered else text
    if len(haystack) != len(text):  # a character lowered into two: positions would shift
        return list(pattern.finditer(text))
    candidates: set[int] = set()
    for literal in literals:
        hit = haystack.find(literal)
        while hit != -1:
            if hit >= offset:
                candidates.add(hit - offset)
            hit = haystack.find(literal, hit + 1)
    found: list[re.Match[str]] = []
    at = 0
    for start in sorted(candidates):
        if start >= at and (match := pattern.match(text, start)):
            found.append(match)
            at = match.end()
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
        if text:
            connection_ids, user_ids, traces = _text_ids(text, patterns)
            found["connection_ids"] += connection_ids
            found["user_ids"] += user_ids
            found["traces"] += traces
    return Ids(**{kind: _unique(values) for kind, values in found.items()})


@lru_cache(maxsize=512)
def _text_ids(
    text: str, patterns: IdPatterns
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The connection ids, user ids and traces (lowered) `patterns` find in one text, in order:
    once per distinct text (the failures of one cause mostly share their message)."""
    defaults = patterns == DEFAULT_PATTERNS
    # every default pattern names its id (`connection_id=`, `"userId":`, `trace`): text
    # naming none of them is not searched
    connection_ids: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    traces: tuple[str, ...] = ()
    if not defaults or any(name in text for name in _CONNECTION_NAMES):
        connection_ids = tuple(_find_all(patterns.compiled("connection_id"), text))
    if not defaults or any(name in text for name in _USER_NAMES):
        user_ids = tuple(_find_all(patterns.compiled("user_id"), text))
    if not defaults or _TRACE_WORD.search(text):
        traces = tuple(t.lower() for t in _find_all(patterns.compiled("trace"), text))
    return connection_ids, user_ids, traces


#: held by every match of a default trace pattern, with their case-blindness
_TRACE_WORD = re.compile("(?i)trace")
#: (literals one of which every match holds, how far into the match, found in the lowered text):
#: `re` matches no character but t, r, a, c, e and their capitals to `(?i)trace`, so in text
#: whose lowering keeps every position, the lowered text holds "trace" where they match
_Starts = tuple[tuple[str, ...], int, bool]
_STARTS: dict[str, _Starts] = {
    DEFAULT_CONNECTION_ID[2]: (_CONNECTION_NAMES, 0, False),
    DEFAULT_USER_ID[2]: (_USER_NAMES, 0, False),
    DEFAULT_TRACE[0]: (("trace",), len("x-cloud-"), True),
    DEFAULT_TRACE[1]: (("trace",), 0, True),
    DEFAULT_TRACE[3]: (("trace",), 0, True),
}


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
#: held by every match of `_TIMEOUT` ("me" of "time"; `re` folds no other character to m or e)
_TIMEOUT_HINT = re.compile("(?i)me")


def _raised_lines(message: str, details: str) -> str:
    """The message and the traceback's `E ` lines: where a URL is the one actually used.

    Other traceback lines show source and arguments (`ws_url = 'ws://host'`), not the failure.
    """
    raised = [line for line in details.splitlines() if line.startswith("E ")]
    return "\n".join([message, *raised])


#: exceptions of the test's own code calling wrongly (a bad argument, a missing name): whatever
#: their text says, the client reached no server with them
OWN_CALL_ERRORS = frozenset(
    {"TypeError", "AttributeError", "NameError", "UnboundLocalError", "ImportError"}
    | {"ModuleNotFoundError", "SyntaxError", "IndentationError"}
)


def _url_path(url: str | None) -> str | None:
    """The path of a URL the client named; None for none, or for one no parser reads (a broken
    IPv6 host such as `http://[::1/login`: the client's text, not ours to fix)."""
    if not url:
        return None
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return None


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
    # each search below runs only on text holding a literal every match of it holds: the
    # patterns open with alternations or `\\b`, which `re` tries at every character
    if m := _HANDSHAKE_STATUS.search(text):
        status = int(m.group(1))
    elif "' for url '" in text and (m := _HTTPX_STATUS.search(text)):
        status, url = int(m.group(1)), m.group(2)
    elif ("HTTP" in message or "status" in message) and (m := _GENERIC_STATUS.search(message)):
        status = int(m.group(1))
    if url is None and "://" in text and (m := _WS_URL.search(_raised_lines(message, details))):
        url = m.group(0).rstrip(".,):")
    exception = exc.group(1) if exc else None
    return ClientEvent(
        exception_type=exception,
        close_code=code,
        close_reason=reason or None,
        close_direction=direction,
        http_status=status,
        url_path=_url_path(url),
        # `TypeError: ... unexpected keyword argument 'timeout'` names a timeout but is the
        # test's own call failing before any network: no timeout was seen
        timeout=exception not in OWN_CALL_ERRORS
        and bool(
            (_TIMEOUT_HINT.search(message) and _TIMEOUT.search(message))
            or (exception and "Timeout" in exception)
        ),
        user_agent=m.group(1) if (m := _USER_AGENT.search(details)) else None,
    )


#: a request header the client logged: websockets' debug log writes each one as
#: `> User-Agent: Python/3.11 websockets/17.4` (websockets/client.py, `logger.debug("> %s: %s")`)
_USER_AGENT = re.compile(
    r">[ \t]*User-Agent:[ \t]*(\S[^\r\n]*?)[ \t]*$", re.MULTILINE | re.IGNORECASE
)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

# Masking, as log-template miners do it (Drain: a token holding a digit is a variable), in one
# list of substitutions that Python's `re` and polars' regex engine both run (the polars forms are
# derived below). Every pattern is linear in Python too: each repetition is followed by something
# it cannot match, and scans that could restart inside a run start only where the run starts
# (a look-behind here, a kept character in polars). Tokens are classified whole: runs of
# `[A-Za-z0-9_-]` are bracketed by private-use markers, then a run that mixes letters and digits
# (`conn_8e2091c99d64`, `ws_staging-_1757362867_61a02cfa`, `qa-bot-17`, ULIDs, nanoids, pod
# names) becomes `<ID>`, unless it reads as a word with a version or size (`sha256`, `oauth2`,
# `IPv4`, `e2e`, `k8s`, `utf-8`, `12ms`).
#: private-use markers: a token's start and end, a word kept, a number kept literal, a long hex run
_RUN_OPEN, _RUN_CLOSE, _WORD, _KEEP, _LONG = "\ue000", "\ue001", "\ue002", "\ue003", "\ue004"
_IPV6_GROUP = r"[0-9a-fA-F]{1,4}"
_IPV6 = (
    rf"(?:{_IPV6_GROUP}(?::{_IPV6_GROUP}){{7}}"
    rf"|{_IPV6_GROUP}(?::{_IPV6_GROUP}){{0,6}}::(?:{_IPV6_GROUP}(?::{_IPV6_GROUP}){{0,6}})?"
    rf"|::{_IPV6_GROUP}(?::{_IPV6_GROUP}){{0,6}})"
)
#: what precedes a number that is kept: an HTTP status or a WebSocket close code means a fault
_STATUS_CONTEXT = (
    r"\b((?:HTTP/\d(?:\.\d)?\"?|HTTP|[Ss]tatus(?:_?[Cc]ode)?|[Cc]ode|[Cc]losed?|received|sent)"
    r"[\"']?[ =:]{1,3}[\"']?)(\d{3,4})\b"
)
_REQUEST_LINE = r"\b((?:GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|WebSocket) \S+ )(\d{3})\b"
_EXIT_CONTEXT = r"\b((?:[Ee]xit(?:ed)?(?: with)?(?: code| status)?)[( =:]{1,3})(\d{1,3})\b"
#: a run that stays a word although it holds digits: letters with a short number in or after
#: them (`sha256`, `IPv4`, `e2e`, `12ms`, then masked as a number), or an encoding (`utf-8`)
_WORDLIKE = rf"{_RUN_OPEN}([A-Za-z]{{0,12}}[0-9]{{1,3}}[A-Za-z]{{0,3}}){_RUN_CLOSE}"
_ENCODING_LIKE = rf"{_RUN_OPEN}([A-Za-z]{{2,5}})-([0-9]{{1,3}}){_RUN_CLOSE}"
_RUN = "[A-Za-z0-9_-]"

#: (pattern, replacement, look-behind class): with a class, the pattern applies only where the
#: text before it is not that class (`(?<!...)` in Python, a kept character in polars)
_MASK_STEPS: tuple[tuple[str, str, str | None], ...] = (
    # the value of any *_id / *Id field is variable by definition
    (
        r"""\b(\w*(?:_id|Id|ID))(["']?\s*[=:]\s*["']?)[^\s"',;)}\]<][^\s"',;)}\]]*""",
        r"\1\2<ID>",
        None,
    ),
    (r"eyJ[\w-]*\.[\w-]+\.[\w-]*", "<JWT>", r"[\w-]"),
    (
        r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?: ?(?:Z|[+-]\d{2}:?\d{2}))?\b",
        "<TS>",
        None,
    ),
    (r"[a-z][a-z0-9+.-]*://[^\s'\"<>]+", "<URL>", r"[\w+.-]"),
    (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+", "<EMAIL>", r"[A-Za-z0-9._%+-]"),
    (
        r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
        "<UUID>",
        None,
    ),
    (r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b", "<IP>", None),
    (rf"(?:\[{_IPV6}(?:%[A-Za-z0-9]+)?\](?::\d+)?|{_IPV6})", "<IP>", r"[\w:.\[]"),
    (r"(?:/[\w.@-]+){2,}\.py\b|(?:/[\w.@-]+){3,}", "<PATH>", None),
    # tokens, classified whole
    (rf"{_RUN}+", rf"{_RUN_OPEN}\g<0>{_RUN_CLOSE}", None),
    (rf"{_RUN_OPEN}0x[0-9a-fA-F]+{_RUN_CLOSE}", "<HEX>", None),
    (rf"{_RUN_OPEN}([0-9a-fA-F]{{8,}}){_RUN_CLOSE}", rf"{_RUN_OPEN}{_LONG}\1{_RUN_CLOSE}", None),
    (
        rf"{_RUN_OPEN}{_LONG}(?:[0-9]+[a-fA-F]|[a-fA-F]+[0-9])[0-9a-fA-F]*{_RUN_CLOSE}",
        "<HEX>",
        None,
    ),
    (rf"{_RUN_OPEN}{_LONG}[a-fA-F]{{16,}}{_RUN_CLOSE}", "<HEX>", None),
    (_WORDLIKE, rf"{_WORD}\1{_RUN_CLOSE}", None),
    (_ENCODING_LIKE, rf"{_WORD}\1-{_KEEP}\2{_RUN_CLOSE}", None),
    (
        rf"{_RUN_OPEN}(?:[0-9_-]*[A-Za-z][A-Za-z_-]*[0-9]|[A-Za-z_-]*[0-9][0-9_-]*[A-Za-z])"
        rf"{_RUN}*{_RUN_CLOSE}",
        "<ID>",
        None,
    ),
    (f"[{_RUN_OPEN}{_RUN_CLOSE}{_WORD}{_LONG}]", "", None),
    # numbers, but an HTTP status or a close code where the line says it is one stays literal
    (_STATUS_CONTEXT, rf"\1{_KEEP}\2", None),
    (_REQUEST_LINE, rf"\1{_KEEP}\2", None),
    (_EXIT_CONTEXT, rf"\1{_KEEP}\2", None),
    (r"\b(HTTP/)(\d(?:\.\d)?)\b", rf"\1{_KEEP}\2", None),
    (r"[-+]?\d+(?:\.\d+)*(?:ms|s|us)?\b", "<NUM>", rf"[\w<.{_KEEP}]"),
    (_KEEP, "", None),
)


def _python_pattern(pattern: str, behind: str | None) -> re.Pattern[str]:
    return re.compile(pattern if behind is None else f"(?<!{behind})(?:{pattern})")


_MASKS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (_python_pattern(pattern, behind), token) for pattern, token, behind in _MASK_STEPS
)

#: id values shorter than this are left to the patterns (a user id `42` is a number anyway)
MIN_ID_VALUE = 4


def strip_ansi(text: str) -> str:
    """Text without terminal colour codes (loguru and friends write them into Cloud Logging)."""
    return _ANSI.sub("", text)


def mask_ids(text: str, ids: Iterable[str | None]) -> str:
    """`text` with each id value the entry carries (its fields, labels, trace) replaced by `<ID>`.

    A value is replaced wherever it appears, whatever its shape: `alice-smith` as a user id is a
    variable of that line even though no pattern would call it one.
    """
    for value in ids:
        if value and len(value) >= MIN_ID_VALUE and value.lower() not in NULLISH_IDS:
            text = text.replace(value, "<ID>")
    return text


def mask(text: str, ids: Iterable[str | None] = ()) -> str:
    """The line's template: variable tokens (ids, numbers, hex, UUIDs, IPs, times, paths) masked.

    Matching and grouping run on templates, so a million lines become a few thousand strings.
    `ids` are the values of the ids the entry carries, masked wherever they appear.
    """
    out = strip_ansi(mask_ids(text, ids)).strip()
    if _MARKERS.search(out):  # text holding the markers themselves: every step, as written
        return _mask_by_steps(out)
    for (pattern, token), needs in zip(_MASKS, _NEEDS, strict=True):
        if needs is _TOKENS:
            out = _RUN_PATTERN.sub(_token, out)
        elif needs is not _MARKED and (not needs or any(part in out for part in needs)):
            out = pattern.sub(token, out)
    if _KEEP in out:
        out = out.replace(_KEEP, "")
    return " ".join(out.split())


def _mask_by_steps(out: str) -> str:
    """`mask` by running every step of `_MASK_STEPS` in turn (what the fast path must equal)."""
    for pattern, token in _MASKS:
        out = pattern.sub(token, out)
    return " ".join(out.split())


# `mask` runs the steps above four to five times faster than one by one, with the same result:
# a step runs only on text holding a literal every match of it needs, and the token steps
# (bracket every run, classify the bracketed runs, drop the brackets) become one pass that
# classifies each run in Python (text already holding a marker takes every step as written).
_MARKERS = re.compile(f"[{_RUN_OPEN}-{_LONG}]")
#: `_NEEDS` markers: the bracketing step classifies the runs; the steps it stands for are skipped
_TOKENS: tuple[str, ...] = ("tokens",)
_MARKED: tuple[str, ...] = ("marked",)
_STATUS_WORDS = ("HTTP", "tatus", "ode", "lose", "received", "sent")
_METHODS = ("GET ", "HEAD ", "POST ", "PUT ", "PATCH ", "DELETE ", "OPTIONS ", "WebSocket ")
_DIGITS = tuple("0123456789")
#: per step, literals one of which every match holds (empty: run always)
_NEEDS: tuple[tuple[str, ...], ...] = (
    ("_id", "Id", "ID"),
    ("eyJ",),
    (":",),
    ("://",),
    ("@",),
    ("-",),
    (".",),
    (":",),
    ("/",),
    _TOKENS,
    *([_MARKED] * 8),
    _STATUS_WORDS,
    _METHODS,
    ("xit",),
    ("HTTP/",),
    (),  # numbers: `\d` is any Unicode digit, so no literal test
    _MARKED,  # the KEEP markers go last, in `mask`
)
assert len(_NEEDS) == len(_MASK_STEPS)
_RUN_PATTERN = re.compile(f"{_RUN}+")
_HEX = frozenset("0123456789abcdefABCDEF")
_HEX_LETTERS = "abcdefABCDEF"
_WORDLIKE_RUN = re.compile(_WORDLIKE[1:-1])
_ENCODING_RUN = re.compile(_ENCODING_LIKE[1:-1])
_ASCII_DIGIT = re.compile("[0-9]")
_ASCII_LETTER = re.compile("[A-Za-z]")


def _token(match: re.Match[str]) -> str:
    """One run of `[A-Za-z0-9_-]`, as the bracketed-run steps of `_MASK_STEPS` leave it."""
    run = match.group()
    if run.isalpha():  # letters only: only a long run of hex letters changes
        return "<HEX>" if len(run) >= 16 and not run.strip(_HEX_LETTERS) else run
    if run.startswith("0x") and len(run) > 2 and _HEX.issuperset(run[2:]):
        return "<HEX>"
    if len(run) >= 8 and _HEX.issuperset(run):  # a long hex run, not letters only
        return run if run.isdigit() else "<HEX>"
    if _WORDLIKE_RUN.fullmatch(run):
        return run
    if encoding := _ENCODING_RUN.fullmatch(run):
        return f"{encoding.group(1)}-{_KEEP}{encoding.group(2)}"
    if _ASCII_DIGIT.search(run) and _ASCII_LETTER.search(run):
        return "<ID>"
    return run


# --- the same on polars columns ------------------------------------------------------------------
# The steps above, rewritten for polars' regex engine, which has no look-around;
# tests/test_logs_fast.py holds the two equal on real and generated lines.

#: characters on which Python's and polars' `\w`, `\s` or `\b` disagree (marks, other numbers,
#: connector punctuation, joiners, the C0 separators Python counts as space), and the
#: private-use characters masking borrows as markers: text holding any goes through `mask`
ENGINE_SENSITIVE = (
    r"[\p{M}\p{No}[\p{Pc}--_][\p{Alphabetic}--\p{L}--\p{Nl}]\x{200C}\x{200D}\x1c-\x1f"
    r"\x{E000}-\x{E004}]"
)
_ANSI_RUST = r"\x1b\[[0-9;?]*[ -/]*[@-~]"


def _rust_step(pattern: str, token: str, behind: str | None) -> tuple[str, str]:
    """One `_MASK_STEPS` entry for polars: `(?<!C)X` becomes `(^|[^C])X`, keeping that character.

    A character outside C is never part of a match, so consuming it loses no match.
    """
    replacement = re.sub(r"\\g<(\d+)>|\\(\d)", lambda m: f"${{{m.group(1) or m.group(2)}}}", token)
    if behind is None:
        return pattern, replacement
    assert "$" not in replacement, "a look-behind step's replacement uses no group"
    return f"(^|[^{behind[1:-1]}])(?:{pattern})", f"${{1}}{replacement}"


_MASKS_RUST: tuple[tuple[str, str], ...] = tuple(_rust_step(*step) for step in _MASK_STEPS)


def mask_expr(text: pl.Expr) -> pl.Expr:
    """`mask` (ids masked before) as a column expression, for text without `ENGINE_SENSITIVE`."""
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
