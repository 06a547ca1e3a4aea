"""What a red-run CI job needs besides the report: GitHub annotations, the step summary,
history across runs, and an exit code that fails the job only when asked to."""

from __future__ import annotations

from pathlib import Path

from fivewhys.errors import ExitCode
from fivewhys.history import CauseHistory, classify, regressions
from fivewhys.model import Regression, Report, Why
from fivewhys.redact import clean_text
from fivewhys.report.text import code, utc

#: failures that count as unexplained for --fail-on-unexplained (client-side ones do not)
UNEXPLAINED_BUCKETS = ("unexplained", "server-error")


def _escape_data(text: str) -> str:
    """GitHub workflow-command data: %, CR and LF are encoded."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """A workflow-command property value: also `:` and `,`."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(report: Report) -> list[str]:
    """One `::error file=...,line=...::` line per explained failure, at the failing test; a
    flaky test's failed attempt is a `::warning` (the test passed in the end)."""
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
        flaky = " (flaky)" if failure.passed_on is not None else ""
        title = f"fivewhys {cause.id}{flaky}: {cause.rule_id}"
        props.append(f"title={_escape_property(title)}")
        message = (
            f"{cause.title} (confidence {cause.confidence:.2f}, proven by {cause.proof}). "
            f"{failure.test_id}"
        )
        if failure.run_note():
            message += f" ({failure.run_note()})"
        level = "warning" if flaky else "error"
        lines.append(f"::{level} {','.join(props)}::{_escape_data(message)}")
    return lines


def step_summary(markdown: str, artifacts: Path) -> str:
    """The report's head (title, summary, causes table) for $GITHUB_STEP_SUMMARY."""
    head, _sep, _rest = markdown.partition("\n## ")
    where = code(str(artifacts / "rca.md"))
    return f"{head.rstrip()}\n\nFull report: {where} in the job's artifacts.\n"


def logs_incomplete(report: Report) -> str | None:
    """Why the logs behind the report may be incomplete, or None when they are whole."""
    if report.logs_unread:
        return f"the logs could not be read: {report.logs_unread}"
    unread = [file.path for file in report.log_files if file.unread is not None]
    if unread:
        return f"{len(unread)} log file(s) could not be read: {', '.join(unread)}"
    partial = [w for w in report.query.per_window if w.status not in (None, "complete")]
    if partial:
        return f"{len(partial)} of {len(report.query.per_window)} log window(s) not complete"
    return None


def exit_code(
    report: Report, *, strict: bool, fail_on_unexplained: bool, fail_on_flaky: bool = False
) -> ExitCode:
    """OK unless --strict and the logs are incomplete, or --fail-on-unexplained and some
    failure (a flaky test's failed attempt too) has no cause and is not client-side, or
    --fail-on-flaky and some test passed only on a rerun. A flaky test whose attempts are all
    explained does not fail the job by itself: pytest passed it."""
    if strict and logs_incomplete(report):
        return ExitCode.LOGS_INCOMPLETE
    if fail_on_unexplained and any(
        f.cause_id is None and f.bucket in UNEXPLAINED_BUCKETS for f in report.failures
    ):
        return ExitCode.UNEXPLAINED_FAILURES
    if fail_on_flaky and report.flaky_tests():
        return ExitCode.FLAKY_TESTS
    return ExitCode.OK


def describe(history: CauseHistory) -> str:
    """One line a reader understands: new, recurring since when, or back after a fix; and how
    many of its failures across runs were attempts of flaky tests."""
    flaky = (
        f"; {history.flaky} of its failures across runs passed on a rerun (flaky)"
        if history.flaky
        else ""
    )
    if history.status == "new":
        return f"new: not seen in earlier runs{flaky} (fingerprint {history.fingerprint})"
    first = utc(history.first_seen) if history.first_seen else "an earlier run"
    where = f" in revision {history.first_revision}" if history.first_revision else ""
    if history.status == "regression":
        fixed = utc(history.fixed_at) if history.fixed_at else "earlier"
        return (
            f"regression: marked fixed {fixed}, back now; first seen {first}{where}{flaky} "
            f"(fingerprint {history.fingerprint})"
        )
    return (
        f"recurring: first seen {first}{where}, in {history.runs_seen} earlier run(s){flaky} "
        f"(fingerprint {history.fingerprint})"
    )


def with_history(report: Report, directory: Path) -> Report:
    """The report with each cause's history from the runs kept in `directory`, and when it
    began: the last green run of its tests and the first failing one, as a why (text read
    back from those files is cleaned like the rest of the report)."""
    problems: list[str] = []
    histories = classify(report, directory, problems)
    began = regressions(report, directory, [])  # the same files: their problems are said once
    causes = []
    for cause in report.causes:
        update: dict[str, object] = {}
        if cause.id in histories:
            update["history"] = clean_text(describe(histories[cause.id]))
        if cause.id in began:
            regression = began[cause.id]
            update["regression"] = regression
            update["whys"] = (*cause.whys, regression_why(regression, len(cause.failures)))
        causes.append(cause.model_copy(update=update) if update else cause)
    warnings = (*report.warnings, *(clean_text(problem) for problem in problems))
    return report.model_copy(update={"causes": tuple(causes), "warnings": warnings})


def regression_why(regression: Regression, tests: int) -> Why:
    """`Regressed between `a` (commit `1a2b3c4`, green on run R) and `b` (commit ...)`."""
    green = " / ".join(f"`{r}`" for r in regression.green_revisions) or "an unknown revision"
    green_commit = f"commit `{regression.green_commit[:7]}`, " if regression.green_commit else ""
    failing = f"`{regression.failing_revision}`" if regression.failing_revision else "a revision"
    failing_commit = (
        f" (commit `{regression.failing_commit[:7]}`)" if regression.failing_commit else ""
    )
    first = (
        "this run is the first that failed"
        if regression.failing_run == "this run"
        else f"the first run that failed was {utc(regression.failing_at)} "
        f"(runs/{regression.failing_run})"
    )
    text = (
        f"Regressed between {green} ({green_commit}green on run {utc(regression.green_at)}) and "
        f"{failing}{failing_commit}: the history's last run in which all {tests} of its "
        f"test(s) passed is runs/{regression.green_run}, and {first}."
    )
    return Why(
        text=clean_text(text),
        kind="evidence",
        step="regression",
        client=clean_text(f"history runs/{regression.green_run}"),
    )
