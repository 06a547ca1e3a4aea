"""`fivewhys ci`: the red-run job. Writes the reports and the log bundle into an artifact
directory, adds the summary to the GitHub job page and annotations at the failing tests, and
fails the job only when asked to (exit codes in errors.ExitCode)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from fivewhys.artifacts import refuse_link, write_text
from fivewhys.ci import exit_code, github_annotations, logs_incomplete, step_summary
from fivewhys.cli_support import (
    asks_for_pull,
    deploy_lookback_option,
    expect_options,
    expectations,
    fail_cleanly,
    flavor_option,
    history_from,
    live_options,
    live_source_from,
    logs_option,
    repo_from,
    repo_option,
    rules_option,
    settings_from,
    started_at_option,
    warn_unread_logs,
    window_options,
)
from fivewhys.errors import FivewhysError
from fivewhys.history import mark_fixed, record
from fivewhys.pipeline import Analysis, Flavor, OutputFormat, analyze, render

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
#: what `ci` writes into --artifacts (the bundle only when it pulled)
ARTIFACTS = ("rca.md", "rca.json", "rca.html", "logs.parquet")


@click.command("ci")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--artifacts",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory for rca.md, rca.json, rca.html and (when pulled) logs.parquet.",
)
@logs_option
@rules_option
@click.option(
    "--history",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep each run's JSON here and say which causes are new, recurring or back.",
)
@flavor_option
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 3 when the logs (or one of the log files) could not all be read.",
)
@started_at_option
@expect_options
@repo_option
@click.option(
    "--fail-on-unexplained",
    is_flag=True,
    help="Exit 1 when a failure has no cause and is not the test's own.",
)
@click.option(
    "--fail-on-flaky",
    is_flag=True,
    help="Exit 1 when a test failed, then passed on a rerun (pytest-rerunfailures).",
)
@window_options
@live_options
@deploy_lookback_option
@fail_cleanly
def ci_command(
    results: tuple[Path, ...],
    artifacts: Path,
    logs: tuple[str, ...],
    rule_dirs: tuple[Path, ...],
    history: Path | None,
    flavor: str,
    strict: bool,
    fail_on_unexplained: bool,
    fail_on_flaky: bool,
    started_at: datetime | None,
    repo: Path | None,
    **options: Any,
) -> None:
    """Analyse a red run for CI: reports and bundle in --artifacts, never a red job for
    unreadable logs unless --strict."""
    expected = expectations(options)
    settings = settings_from(options)
    history = history_from(settings, history)
    live = live_source_from(settings, options) if asks_for_pull(options) else None
    if live is not None and logs:
        raise FivewhysError("give either --logs or a live pull (--service, --project), not both")
    try:
        artifacts.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        message = f"cannot create the artifact directory: {exc.strerror}"
        raise FivewhysError(message, artifacts) from None
    for name in ARTIFACTS:  # before any work: a planted link stops the job with one line
        refuse_link(artifacts / name)
    report = analyze(
        Analysis(
            results=results,
            logs=logs,
            rule_dirs=(*(Path(p) for p in settings.rules), *rule_dirs),
            tz=options["tz"],
            settings=settings,
            live=live,
            save_logs=artifacts / "logs.parquet" if live is not None else None,
            tolerate_unreadable_logs=True,
            started_at=started_at,
            repo=repo_from(settings, repo),
            history=history,
            **expected,  # type: ignore[arg-type]
        )
    )
    warn_unread_logs(report)
    markdown = render(report, OutputFormat.MARKDOWN, Flavor(flavor))
    report_json = render(report, OutputFormat.JSON)
    outputs = {
        "rca.md": markdown,
        "rca.json": report_json,
        "rca.html": render(report, OutputFormat.HTML),
    }
    for name, text in outputs.items():
        _write_artifact(artifacts / name, text)
    if history is not None:
        record(report_json, report, history)
    summary_path = os.environ.get(SUMMARY_ENV)
    if summary_path:
        gfm = markdown if flavor == Flavor.GFM else render(report, OutputFormat.MARKDOWN)
        _append(Path(summary_path), step_summary(gfm, artifacts))
    for line in github_annotations(report):
        click.echo(line)
    incomplete = logs_incomplete(report)
    click.echo(f"fivewhys ci: wrote {artifacts}: {report.counts_line()}", err=True)
    if incomplete:
        click.echo(f"fivewhys ci: the report says so: {incomplete}", err=True)
    sys.exit(
        exit_code(
            report,
            strict=strict,
            fail_on_unexplained=fail_on_unexplained,
            fail_on_flaky=fail_on_flaky,
        )
    )


def _write_artifact(path: Path, text: str) -> None:
    """A new file, never written through a link (artifacts.write_text)."""
    try:
        write_text(path, text)
    except OSError as exc:
        raise FivewhysError(f"cannot write: {exc.strerror}", path) from None


def _append(path: Path, text: str) -> None:
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise FivewhysError(f"cannot append the step summary: {exc.strerror}", path) from None


@click.group("history")
def history_group() -> None:
    """Causes across runs (the directory given to `ci --history`)."""


@history_group.command("mark-fixed")
@click.argument("fingerprint")
@click.option(
    "--history",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="The history directory.",
)
@click.option("--note", default="", help="What fixed it (kept beside the mark).")
@fail_cleanly
def mark_fixed_command(fingerprint: str, history: Path, note: str) -> None:
    """Mark the cause with FINGERPRINT (shown in its report) fixed from now on: if it comes
    back, reports call it a regression."""
    mark_fixed(history, fingerprint, datetime.now(UTC), note)
    click.echo(f"marked {fingerprint} fixed in {history}", err=True)
