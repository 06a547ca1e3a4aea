"""The Markdown report, rendered from `templates/report.md.j2`."""

from __future__ import annotations

from functools import lru_cache

import jinja2

from fivewhys.model import NO_CAUSE_BUCKETS, Report
from fivewhys.report import text
from fivewhys.resources import bundled


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Built once: Markdown needs our escaping filters, not HTML autoescape."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(bundled("templates")),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        code=text.code,
        cell=text.cell,
        fence=text.fence,
        long_lines=text.long_lines,
        prose=text.prose,
        utc=text.utc,
        offset=text.offset,
    )
    return env


def render_markdown(report: Report) -> str:
    """The report as GitHub-flavoured Markdown."""
    rendered = (
        environment()
        .get_template("report.md.j2")
        .render(
            report=report,
            buckets=NO_CAUSE_BUCKETS,
            by_test={f.test_id: f for f in report.failures},
        )
    )
    return rendered.rstrip("\n") + "\n"
