"""The Markdown report, rendered from `templates/report.md.j2`."""

from __future__ import annotations

from functools import lru_cache

import jinja2

from fivewhys.model import Report
from fivewhys.report import text
from fivewhys.report.environment import render_report, template_environment
from fivewhys.report.timeline import timeline_rows


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Built once: Markdown needs our escaping filters, not HTML autoescape; whatever a
    template prints without one is escaped by `text.finalize`."""
    env = template_environment(
        autoescape=False,
        finalize=text.finalize,
        filters={
            "code": text.code,
            "cell": text.cell,
            "fence": text.fence,
            "long_lines": text.long_lines,
            "prose": text.prose,
            "linked": text.linked,
            "autolink": text.autolink,
            "utc": text.utc,
            "offset": text.offset,
        },
    )
    env.globals.update(timeline_rows=timeline_rows)
    return env


def render_markdown(report: Report) -> str:
    """The report as GitHub-flavoured Markdown."""
    return render_report(environment(), "report.md.j2", report)
