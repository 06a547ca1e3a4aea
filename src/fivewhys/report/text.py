"""Making untrusted text (log lines, test output) safe inside Markdown.

Log text goes into code spans and fences, where GitHub and Jira render nothing: no HTML, no
@mentions, no #123 links. Fences are longer than any backtick run inside them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from fivewhys.model import Evidence

_BACKTICKS = re.compile(r"`+")
_PROSE_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|@!~])")


def _longest_run(text: str) -> int:
    return max((len(m.group(0)) for m in _BACKTICKS.finditer(text)), default=0)


def code(text: str, limit: int = 160) -> str:
    """An inline code span holding `text` on one line (shortened to `limit` characters)."""
    one_line = " ".join(text.split())
    if len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    if not one_line:
        return ""
    ticks = "`" * (_longest_run(one_line) + 1)
    pad = " " if one_line.startswith("`") or one_line.endswith("`") else ""
    return f"{ticks}{pad}{one_line}{pad}{ticks}"


def cell(text: str, limit: int = 160) -> str:
    """A code span fit for a GFM table cell: pipes escaped even inside code."""
    return code(text, limit).replace("|", "\\|")


def long_lines(lines: Iterable[Evidence], limit: int = 160) -> list[Evidence]:
    """Evidence whose message a table cell cuts: shown whole in a collapsed block."""
    return [line for line in lines if "\n" in line.message.strip() or len(line.message) > limit]


def fence(text: str, info: str = "text") -> str:
    """A fenced block whose fence is longer than any backtick run in `text`."""
    ticks = "`" * max(3, _longest_run(text) + 1)
    return f"{ticks}{info}\n{text.rstrip()}\n{ticks}"


def prose(text: str) -> str:
    """Text from rules or logs, as Markdown prose with every special character escaped."""
    return _PROSE_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def utc(moment: datetime) -> str:
    """`2025-09-07 15:39:41.123Z`: absolute UTC, milliseconds."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def offset(seconds: float) -> str:
    """`+0.012 s` / `-3.400 s` from the failure."""
    return f"{seconds:+.3f} s"
