"""The one way report templates are loaded: from the bundled templates/, strict about
undefined names, blocks trimmed. Each renderer adds its own escaping: filters, and a
`finalize` (or HTML autoescape) that escapes whatever a template prints without one."""

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
    *,
    autoescape: bool,
    filters: dict[str, Callable[..., Any]],
    finalize: Callable[[Any], Any] | None = None,
) -> jinja2.Environment:
    """A Jinja environment over the bundled templates with `filters` added; `finalize` sees
    every printed value (the format's escaping of anything no filter made safe)."""
    env = jinja2.Environment(
        finalize=finalize,
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
    )
    return rendered.rstrip("\n") + "\n"
