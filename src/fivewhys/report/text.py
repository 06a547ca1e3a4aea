"""Making untrusted text (log lines, test output, rule text) safe inside Markdown, by construction.

Every filter here returns `Markdown`, text already safe to place; the environment's `finalize`
escapes anything else a template prints as prose, so a field printed without a filter is
escaped all the same. Log text goes into code spans and fences, where GitHub renders nothing:
no HTML, no @mentions, no #123 links. Fences are longer than any backtick run inside them;
pipes are escaped in table cells; links are only http(s), percent-encoded where Markdown
would end them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2

from fivewhys.model import Evidence

_BACKTICKS = re.compile(r"`+")
_PROSE_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|@!~])")
#: what would open a block at the start of a line: a list item, a thematic break, a heading
#: underline, an ordered item
_BLOCK_START = re.compile(r"^(?:([-+=])|(\d{1,9})([.)])(?=\s|$))")


class Markdown(str):
    """Text already safe in Markdown: what the filters return, printed as it is."""


def _longest_run(text: str) -> int:
    return max((len(m.group(0)) for m in _BACKTICKS.finditer(text)), default=0)


def code(text: str, limit: int = 160) -> Markdown:
    """An inline code span holding `text` on one line (shortened to `limit` characters)."""
    one_line = " ".join(text.split())
    if len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    if not one_line:
        return Markdown("")
    ticks = "`" * (_longest_run(one_line) + 1)
    pad = " " if one_line.startswith("`") or one_line.endswith("`") else ""
    return Markdown(f"{ticks}{pad}{one_line}{pad}{ticks}")


def cell(text: str, limit: int = 160) -> Markdown:
    """A code span fit for a GFM table cell: pipes escaped even inside code."""
    return Markdown(code(text, limit).replace("|", "\\|"))


def long_lines(lines: Iterable[Evidence], limit: int = 160) -> list[Evidence]:
    """Evidence whose message a table cell cuts: shown whole in a collapsed block."""
    return [line for line in lines if "\n" in line.message.strip() or len(line.message) > limit]


def fence(text: str, info: str = "text") -> Markdown:
    """A fenced block whose fence is longer than any backtick run in `text`."""
    ticks = "`" * max(3, _longest_run(text) + 1)
    return Markdown(f"{ticks}{info}\n{text.rstrip()}\n{ticks}")


def prose(text: str) -> Markdown:
    """Text from rules or logs, as Markdown prose on one line with every special character
    escaped, and nothing at its start that would open a list, a heading or a rule."""
    return inline(" ".join(text.split()))


def inline(text: str) -> Markdown:
    """`text` as it stands (blanks kept) with every special character escaped and newlines made
    blanks: it cannot end a table row, start a block, or hold markup."""
    flat = text.replace("\r", " ").replace("\n", " ")
    escaped = _PROSE_SPECIAL.sub(r"\\\1", flat)
    return Markdown(_BLOCK_START.sub(_escape_block_start, escaped, count=1))


def _escape_block_start(match: re.Match[str]) -> str:
    if match.group(1):
        return "\\" + match.group(1)
    return f"{match.group(2)}\\{match.group(3)}"


def web_url(url: str) -> str | None:
    """`url` when it is http(s) with a host, percent-encoded where Markdown, HTML or wiki
    markup would end or break it; None for any other scheme (javascript:, data:, file:)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(url.strip(), safe="/:?#@&+,;=%-._~")


def linked(label: str, url: str | None) -> Markdown:
    """`[label](url)` for a web URL; the label alone for anything else (a label that is not
    Markdown yet is escaped as prose)."""
    text = label if isinstance(label, Markdown) else prose(label)
    safe = web_url(url) if url else None
    return Markdown(f"[{text}]({safe})") if safe else Markdown(text)


def autolink(url: str) -> Markdown:
    """`<url>` for a web URL (angle brackets and blanks encoded); a code span otherwise."""
    safe = web_url(url)
    return Markdown(f"<{safe}>") if safe else code(url)


def utc(moment: datetime) -> Markdown:
    """`2025-09-07 15:39:41.123Z`: absolute UTC, milliseconds."""
    return Markdown(moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z")


def offset(seconds: float) -> Markdown:
    """`+0.012 s` / `-3.400 s` from the failure."""
    return Markdown(f"{seconds:+.3f} s")


def duration(delta: timedelta) -> str:
    """`40 s`, `12 min`, `5.5 h`, `3.0 days` (negative with a `-`): a gap in the unit a reader
    takes in at once."""
    seconds = delta.total_seconds()
    sign = "" if seconds >= 0 else "-"
    seconds = abs(seconds)
    if seconds < 120:
        return f"{sign}{seconds:.0f} s"
    if seconds < 7200:
        return f"{sign}{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{sign}{seconds / 3600:.1f} h"
    return f"{sign}{seconds / 86400:.1f} days"


def finalize(value: Any) -> str:
    """What a Markdown template prints for `value`: filtered text as it is, numbers as they
    are, nothing for nothing, any other text escaped (`inline`): no field can skip escaping."""
    if isinstance(value, Markdown):
        return value
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return inline(str(value))
