"""The report in Jira wiki markup, for teams whose tickets do not render Markdown.

Untrusted text is escaped character by character in prose and table cells, and goes into
`{noformat}` blocks (which render nothing) when it spans lines.
"""

from __future__ import annotations

import re
from functools import lru_cache

import jinja2

from fivewhys.model import NO_CAUSE_BUCKETS, Report
from fivewhys.report import text
from fivewhys.resources import bundled

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
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(bundled("templates")),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(jt=jira_text, noformat=noformat, utc=text.utc, offset=text.offset)
    return env


def render_jira(report: Report) -> str:
    """The report as Jira wiki markup."""
    rendered = (
        environment()
        .get_template("report.jira.j2")
        .render(
            report=report, buckets=NO_CAUSE_BUCKETS, by_test={f.test_id: f for f in report.failures}
        )
    )
    return rendered.rstrip("\n") + "\n"
