"""The report in Jira wiki markup, for teams whose tickets do not render Markdown.

Untrusted text is escaped character by character in prose and table cells, and goes into
`{noformat}` blocks (which render nothing) when it spans lines. Every filter returns
`JiraText`; the environment's `finalize` escapes anything else a template prints, so no field
can skip escaping. Links are made only to http(s) URLs, encoded so they cannot end the link.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import jinja2

from fivewhys.model import Report
from fivewhys.report import text as text_module
from fivewhys.report.environment import render_report, template_environment
from fivewhys.report.timeline import timeline_rows

_SPECIAL = re.compile(r"([\\{}\[\]|*_+^~#!?@-])")
#: what opens a block at the start of a line and holds no special character: a heading, a quote
_BLOCK_START = re.compile(r"^(?=(?:h[1-6]|bq)\.)", re.IGNORECASE)
#: a noformat tag in any case (Jira reads macro names case-blind), with or without parameters
_NOFORMAT_TAG = re.compile(r"\{(noformat)", re.IGNORECASE)


class JiraText(str):
    """Text already safe in Jira wiki markup: what the filters return, printed as it is."""


def jira_text(value: str, limit: int = 0) -> JiraText:
    """One line of text with every wiki-markup character escaped."""
    one_line = " ".join(value.split())
    if limit and len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    return JiraText(_BLOCK_START.sub("\\\\", _SPECIAL.sub(r"\\\1", one_line), count=1))


def noformat(value: str) -> JiraText:
    """A `{noformat}` block; a noformat tag inside, in any case, is broken so it cannot end the
    block."""
    body = _NOFORMAT_TAG.sub(r"{ \1", value.rstrip())
    return JiraText(f"{{noformat}}\n{body}\n{{noformat}}")


def jira_link(label: str, url: str | None) -> JiraText:
    """`[label|url]` for a web URL, the label alone otherwise (escaped unless it is JiraText)."""
    text = label if isinstance(label, JiraText) else jira_text(label)
    safe = text_module.web_url(url) if url else None
    return JiraText(f"[{text}|{safe}]") if safe else JiraText(text)


def _plain(value: Any) -> JiraText:
    """Template text printed bare: utc and offset are ours, their characters stay."""
    return JiraText(value)


def finalize(value: Any) -> str:
    """What the Jira template prints for `value`: filtered text as it is, numbers as they are,
    nothing for nothing, any other text escaped on one line, blanks kept."""
    if isinstance(value, JiraText):
        return value
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    flat = str(value).replace("\r", " ").replace("\n", " ")
    return _BLOCK_START.sub("\\\\", _SPECIAL.sub(r"\\\1", flat), count=1)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Built once: wiki markup escaped by our filters, and by `finalize` without one."""
    env = template_environment(
        autoescape=False,
        finalize=finalize,
        filters={
            "jt": jira_text,
            "noformat": noformat,
            "jira_link": jira_link,
            "utc": lambda moment: _plain(text_module.utc(moment)),
            "offset": lambda seconds: _plain(text_module.offset(seconds)),
        },
    )
    env.globals.update(timeline_rows=timeline_rows)
    return env


def render_jira(report: Report) -> str:
    """The report as Jira wiki markup."""
    return render_report(environment(), "report.jira.j2", report)
