"""The report in Jira wiki markup, for teams whose tickets do not render Markdown.

Untrusted text is escaped character by character in prose and table cells, and goes into
`{noformat}` blocks (which render nothing) when it spans lines.
"""

from __future__ import annotations

import re
from functools import lru_cache

import jinja2

from fivewhys.model import Report
from fivewhys.report import text
from fivewhys.report.environment import render_report, template_environment

_SPECIAL = re.compile(r"([\\{}\[\]|*_+^~#!?@-])")


def jira_text(value: str, limit: int = 0) -> str:
    """One line of text with every wiki-markup character escaped."""
    one_line = " ".join(value.split())
    if limit and len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    return _SPECIAL.sub(r"\\\1", one_line)


def noformat(value: str) -> str:
    """A `{noformat}` block; a literal closing tag inside is broken so it cannot end the block."""
    body = value.rstrip().replace("{noformat}", "{ noformat}")
    return f"{{noformat}}\n{body}\n{{noformat}}"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Built once: wiki markup escaped by our filters."""
    return template_environment(
        autoescape=False,
        filters={"jt": jira_text, "noformat": noformat, "utc": text.utc, "offset": text.offset},
    )


def render_jira(report: Report) -> str:
    """The report as Jira wiki markup."""
    return render_report(environment(), "report.jira.j2", report)
