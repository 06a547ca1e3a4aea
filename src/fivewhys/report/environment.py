"""The one way report templates are loaded: from the bundled templates/, strict about
undefined names, blocks trimmed. Each renderer adds its own escaping: filters, and a
`finalize` (or HTML autoescape) that escapes whatever a template prints without one.

Compiling a report template is most of a small report's rendering (45 ms of the bundled
example's 50), so the compiled code is kept in the user's cache directory by Jinja's own
bytecode cache, as Python keeps `.pyc` files: a changed template is compiled again (Jinja
checks the source's hash), and the output is the same bytes either way."""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
from jinja2.bccache import Bucket

from fivewhys.model import NO_CAUSE_BUCKETS, Report
from fivewhys.resources import bundled, compiled_cache_dir

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
    if (cache := compiled_cache_dir("templates")) is not None:
        env.bytecode_cache = TemplateCache(cache, env)
    return env


class TemplateCache(jinja2.FileSystemBytecodeCache):
    """Jinja's file cache of compiled templates, told apart by what changes the compiled code
    besides the template (Jinja keys by name and source only: an environment with other
    options or filters, or another Jinja, must not load it), and never an error: a damaged
    file is a miss, a directory that cannot be written a cache that keeps nothing."""

    def __init__(self, directory: Path, env: jinja2.Environment) -> None:
        super().__init__(str(directory), f"{_compiled_by(env)}-%s.cache")

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError, pickle.UnpicklingError):
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _compiled_by(env: jinja2.Environment) -> str:
    """A digest of the environment's options that Jinja's compiler reads."""
    finalize = env.finalize
    options = (
        jinja2.__version__,
        env.block_start_string,
        env.block_end_string,
        env.variable_start_string,
        env.variable_end_string,
        env.comment_start_string,
        env.comment_end_string,
        env.line_statement_prefix,
        env.line_comment_prefix,
        env.trim_blocks,
        env.lstrip_blocks,
        env.newline_sequence,
        env.keep_trailing_newline,
        env.optimized,
        repr(env.autoescape) if isinstance(env.autoescape, bool) else "callable",
        None if finalize is None else f"{finalize.__module__}.{finalize.__qualname__}",
        f"{env.undefined.__module__}.{env.undefined.__qualname__}",
        sorted(env.extensions),
        sorted(env.filters),
        sorted(env.tests),
    )
    return hashlib.sha256(repr(options).encode()).hexdigest()[:16]


def render_report(env: jinja2.Environment, template: str, report: Report) -> str:
    """A report through one template, with what every template uses; one final newline."""
    rendered = env.get_template(template).render(
        report=report,
        buckets=NO_CAUSE_BUCKETS,
        why_labels=WHY_LABELS,
    )
    return rendered.rstrip("\n") + "\n"
