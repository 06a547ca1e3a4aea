"""What a red-run CI job needs besides the report: GitHub annotations, the step summary,
history across runs, and an exit code that fails the job only when asked to."""

from __future__ import annotations

from pathlib import Path

from fivewhys.errors import ExitCode
from fivewhys.history import CauseHistory, classify
from fivewhys.model import Report
from fivewhys.report.text import utc

#: failures that count as unexplained for --fail-on-unexplained (client-side ones do not)
UNEXPLAINED_BUCKETS = ("unexplained", "server-error")


def _escape_data(text: str) -> str:
    """GitHub workflow-command data: %, CR and LF are encoded."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """A workflow-command property value: also `:` and `,`."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(report: Report) -> list[str]:
    """One `::error file=...,line=...::` line per explained failure, at the failing test."""
    causes = {cause.id: cause for cause in report.causes}
    lines = []
    for failure in report.failures:
        if failure.cause_id is None:
            continue
        cause = causes[failure.cause_id]
        props = []
        if failure.test_file:
            props.append(f"file={_escape_property(failure.test_file)}")
        if failure.test_line:
            props.append(f"line={failure.test_line}")
        props.append(f"title={_escape_property(f'fivewhys {cause.id}: {cause.rule_id}')}")
        message = (
            f"{cause.title} (confidence {cause.confidence:.2f}, proven by {cause.proof}). "
            f"{failure.test_id}"
        )
        lines.append(f"::error {','.join(props)}::{_escape_data(message)}")
    return lines


def step_summary(markdown: str, artifacts: Path) -> str:
    """The report's head (title, summary, causes table) for $GITHUB_STEP_SUMMARY."""
    head, _sep, _rest = markdown.partition("\n## ")
    return f"{head.rstrip()}\n\nFull report: `{artifacts / 'rca.md'}` in the job's artifacts.\n"


def logs_incomplete(report: Report) -> str | None:
    """Why the logs behind the report may be incomplete, or None when they are whole."""
    if report.logs_unread:
        return f"the logs could not be read: {report.logs_unread}"
    partial = [w for w in report.query.per_window if w.status not in (None, "complete")]
    if partial:
        return f"{len(partial)} of {len(report.query.per_window)} log window(s) not complete"
    return None


def exit_code(report: Report, *, strict: bool, fail_on_unexplained: bool) -> ExitCode:
    """OK unless --strict and the logs are incomplete, or --fail-on-unexplained and some
    failure has no cause and is not client-side."""
    if strict and logs_incomplete(report):
        return ExitCode.LOGS_INCOMPLETE
    if fail_on_unexplained and any(
        f.cause_id is None and f.bucket in UNEXPLAINED_BUCKETS for f in report.failures
    ):
        return ExitCode.UNEXPLAINED_FAILURES
    return ExitCode.OK


def describe(history: CauseHistory) -> str:
    """One line a reader understands: new, recurring since when, or back after a fix."""
    if history.status == "new":
        return f"new: not seen in earlier runs (fingerprint {history.fingerprint})"
    first = utc(history.first_seen) if history.first_seen else "an earlier run"
    where = f" in revision {history.first_revision}" if history.first_revision else ""
    if history.status == "regression":
        fixed = utc(history.fixed_at) if history.fixed_at else "earlier"
        return (
            f"regression: marked fixed {fixed}, back now; first seen {first}{where} "
            f"(fingerprint {history.fingerprint})"
        )
    return (
        f"recurring: first seen {first}{where}, in {history.runs_seen} earlier run(s) "
        f"(fingerprint {history.fingerprint})"
    )


def with_history(report: Report, directory: Path) -> Report:
    """The report with each cause's history from the runs kept in `directory`."""
    problems: list[str] = []
    histories = classify(report, directory, problems)
    causes = tuple(
        cause.model_copy(update={"history": describe(histories[cause.id])})
        if cause.id in histories
        else cause
        for cause in report.causes
    )
    return report.model_copy(update={"causes": causes, "warnings": (*report.warnings, *problems)})
