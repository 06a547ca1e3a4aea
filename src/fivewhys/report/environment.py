"""The one way report templates are loaded: from the bundled templates/, strict about
undefined names, blocks trimmed. Each renderer adds its own escaping filters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jinja2

from fivewhys.model import NO_CAUSE_BUCKETS, Report
from fivewhys.resources import bundled

#: how each kind of why is labelled in every format (model.WhyKind)
WHY_LABELS: dict[str, str] = {
    "evidence": "Evidence.",
    "mechanism": "Mechanism.",
    "question": "Open question.",
    "hypothesis": "Hypothesis, unproven.",
}


def template_environment(
    *, autoescape: bool, filters: dict[str, Callable[..., Any]]
) -> jinja2.Environment:
    """A Jinja environment over the bundled templates with `filters` added."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(bundled("templates")),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(filters)
    return env


def render_report(env: jinja2.Environment, template: str, report: Report) -> str:
    """A report through one template, with what every template uses; one final newline."""
    rendered = env.get_template(template).render(
        report=report,
        buckets=NO_CAUSE_BUCKETS,
        why_labels=WHY_LABELS,
        by_test={failure.test_id: failure for failure in report.failures},
    )
    return rendered.rstrip("\n") + "\n"
