"""The analysis, start to end, callable without click: results + logs + rules -> Report."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from enum import StrEnum
from pathlib import Path

import polars as pl

from fivewhys import __version__
from fivewhys.config import Settings
from fivewhys.correlate import correlate
from fivewhys.logs.files import LogRead, read_log_files
from fivewhys.logs.frame import empty_logframe
from fivewhys.logs.query import build_filter, coalesce, gcloud_command
from fivewhys.model import Cause, FailureReport, QueryInfo, Report
from fivewhys.redact import redact_report
from fivewhys.report.json import render_json
from fivewhys.report.markdown import render_markdown
from fivewhys.results import read_results
from fivewhys.rules.loader import bundled_rules_dir, load_rules
from fivewhys.whys import build_causes, explain_failures, failure_reports

SCHEMA_VERSION = "1.0"


class OutputFormat(StrEnum):
    """What `--format` can ask for; every value has a renderer (checked by a test)."""

    MARKDOWN = "md"
    JSON = "json"


RENDERERS = {OutputFormat.MARKDOWN: render_markdown, OutputFormat.JSON: render_json}


@dataclass(frozen=True)
class Analysis:
    """What one `analyze` run reads."""

    results: Sequence[Path]
    logs: Sequence[str] = ()
    rule_dirs: Sequence[Path] = ()
    tz: tzinfo | None = None
    settings: Settings = field(default_factory=Settings)


def analyze(analysis: Analysis) -> Report:
    """Read, correlate, match, explain; the returned report is already redacted."""
    settings = analysis.settings
    patterns = settings.id_patterns()
    results = read_results(analysis.results, tz=analysis.tz, patterns=patterns)
    rules = load_rules([bundled_rules_dir(), *analysis.rule_dirs], collect_errors=False)
    logs = (
        read_log_files(analysis.logs, id_patterns=patterns)
        if analysis.logs
        else LogRead(frame=empty_logframe(), sources=[], skipped={}, warnings=[], mapped={})
    )
    project = _project(logs.frame)
    failures = results.failures
    correlation = correlate(failures, logs.frame, settings.window)
    explained = explain_failures(
        failures, correlation, rules, slack_s=settings.window.skew_s, project=project
    )
    causes = build_causes(explained)
    reports = failure_reports(explained, causes, correlation)
    unique_causes = sorted({c.id: c for c in causes.values()}.values(), key=_cause_number)

    services = sorted(s for s in logs.frame.get_column("service").unique().to_list() if s)
    windows = coalesce(correlation.windows)
    log_filter = build_filter(windows, services)
    notes = [*results.notes, *_log_notes(logs)]
    if not analysis.logs:
        notes.append("No logs were given (--logs): no failure can be proven from the server side.")
    report = Report(
        schema_version=SCHEMA_VERSION,
        tool_version=__version__,
        summary=_summary(results.tests_total, reports, unique_causes),
        results=tuple(str(p) for p in analysis.results),
        tests_total=results.tests_total,
        failures=tuple(reports),
        causes=tuple(unique_causes),
        query=QueryInfo(
            sources=tuple(logs.sources),
            filter=log_filter,
            gcloud_command=gcloud_command(log_filter, project),
            windows=tuple(windows),
        ),
        log_entries=logs.frame.height,
        notes=tuple(notes),
        warnings=(*results.warnings, *logs.warnings),
    )
    return redact_report(report)


def render(report: Report, output_format: OutputFormat) -> str:
    return RENDERERS[output_format](report)


def _cause_number(cause: Cause) -> int:
    return int(cause.id.lstrip("C"))


def _project(frame: pl.DataFrame) -> str | None:
    """The GCP project the logs came from (resource label, else the logName prefix)."""
    for raw in frame.get_column("raw").head(50).to_list():
        entry = json.loads(raw)
        resource = entry.get("resource") or {}
        labels = resource.get("labels") or {} if isinstance(resource, dict) else {}
        if isinstance(labels, dict) and labels.get("project_id"):
            return str(labels["project_id"])
        log_name = entry.get("logName") or entry.get("log_name") or ""
        if isinstance(log_name, str) and log_name.startswith("projects/"):
            return log_name.split("/")[1]
    return None


def _log_notes(logs: LogRead) -> list[str]:
    notes = [
        f"{count} log entries mapped from a non-standard shape: {how}."
        for how, count in sorted(logs.mapped.items())
    ]
    notes += [f"{count} log entries skipped: {why}." for why, count in sorted(logs.skipped.items())]
    return notes


def _summary(tests_total: int, failures: list[FailureReport], causes: list[Cause]) -> str:
    explained = sum(1 for f in failures if f.cause_id)
    parts = [f"{len(failures)} of {tests_total} tests failed."]
    if causes:
        listed = "; ".join(
            f"{c.id} {c.title} ({len(c.failures)} test{'s' if len(c.failures) != 1 else ''}, "
            f"confidence {c.confidence:.2f}, proven by {c.proof})"
            for c in causes
        )
        parts.append(f"{len(causes)} cause(s) explain {explained} of them: {listed}.")
    unexplained = [f for f in failures if not f.cause_id]
    if unexplained:
        uncovered = sum(1 for f in unexplained if not f.covered)
        text = f"{len(unexplained)} failure(s) unexplained: no rule matched a server line"
        if uncovered:
            text += f", and for {uncovered} of them no log entry covers the test's window"
        parts.append(text + ".")
    return " ".join(parts)
