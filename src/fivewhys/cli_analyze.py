"""`fivewhys analyze` and `fivewhys pull`: options in, one pipeline call, errors mapped to exit
codes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from fivewhys.cli_support import (
    asks_for_pull,
    bigquery_options,
    bigquery_source_from,
    deploy_lookback_option,
    expect_options,
    expectations,
    fail_cleanly,
    flavor_option,
    history_from,
    live_options,
    live_source_from,
    logs_option,
    output_option,
    pull_option,
    repo_from,
    repo_option,
    rules_option,
    settings_from,
    started_at_option,
    warn_unread_logs,
    window_options,
    write_or_echo,
)
from fivewhys.errors import FivewhysError
from fivewhys.pipeline import (
    Analysis,
    Flavor,
    OutputFormat,
    analyze,
    bigquery_plan,
    format_for,
    pull,
    pull_bigquery,
    render,
    save_bundle,
)


@click.command("analyze")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@logs_option
@output_option("Write the report here (default: stdout).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice([f.value for f in OutputFormat]),
    help="Report format (default: from the output's extension, else md).",
)
@flavor_option
@rules_option
@window_options
@live_options
@deploy_lookback_option
@pull_option
@bigquery_options
@click.option(
    "--print-sql",
    is_flag=True,
    help="Write the BigQuery query (as it runs pasted into the console) and exit.",
)
@click.option(
    "--save-logs",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Keep the pulled logs as a bundle (Parquet) to re-analyse later with --logs.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Stop (exit 2) when one of the log files cannot be read, instead of going on "
    "with the others.",
)
@started_at_option
@expect_options
@repo_option
@click.option(
    "--history",
    type=click.Path(path_type=Path, file_okay=False),
    help="Read the runs kept by `fivewhys ci --history` here: when each cause began.",
)
@fail_cleanly
def analyze_command(
    results: tuple[Path, ...],
    logs: tuple[str, ...],
    output: Path | None,
    output_format: str | None,
    flavor: str,
    rule_dirs: tuple[Path, ...],
    save_logs: Path | None,
    strict: bool,
    started_at: datetime | None,
    repo: Path | None,
    history: Path | None,
    print_sql: bool,
    **options: Any,
) -> None:
    """Explain the failures in RESULTS (JUnit XML, pytest-reportlog, pytest-json-report).

    Logs come from --logs files, or are pulled from Cloud Logging for the failure windows
    when --service is given (with --project or GOOGLE_CLOUD_PROJECT), or are queried in
    BigQuery with --bigquery PROJECT.DATASET.
    """
    expected = expectations(options)
    settings = settings_from(options)
    pulls = asks_for_pull(options) and not options["bigquery"]
    live = live_source_from(settings, options) if pulls else None
    if live is not None and logs:
        raise FivewhysError("give either --logs or a live pull (--service, --project), not both")
    bigquery = bigquery_source_from(settings, options, other_logs=bool(logs) or live is not None)
    if print_sql:
        if bigquery is None:
            raise FivewhysError("--print-sql prints the BigQuery query: add --bigquery P.DATASET")
        query = bigquery_plan(
            results,
            bigquery,
            tz=options["tz"],
            settings=settings,
            started_at=started_at,
            rule_dirs=rule_dirs,
        )
        text = (
            "-- the first query of a BigQuery analysis: the failures' keyed lines and the lines\n"
            "-- their rules join by time; a second query may follow, reading whole the windows\n"
            "-- of the failures these lines leave unexplained\n" + query.console()
            if query
            else "-- no failure placed in time: nothing to query\n"
        )
        write_or_echo(text, output, "query")
        return
    if save_logs is not None and live is None and bigquery is None:
        raise FivewhysError(
            "--save-logs keeps pulled logs: add --service (and --project) to pull them"
        )
    configured = tuple(Path(p) for p in settings.rules)
    report = analyze(
        Analysis(
            results=results,
            logs=logs,
            rule_dirs=(*configured, *rule_dirs),
            tz=options["tz"],
            settings=settings,
            live=live,
            bigquery=bigquery,
            save_logs=save_logs,
            strict=strict,
            started_at=started_at,
            repo=repo_from(settings, repo),
            history=history_from(settings, history),
            **expected,  # type: ignore[arg-type]
        )
    )
    warn_unread_logs(report)
    if output_format is None:
        output_format = format_for(output)
    text = render(report, OutputFormat(output_format), Flavor(flavor))
    if write_or_echo(text, output, "report"):
        click.echo(f"wrote {output}: {report.counts_line()}", err=True)


@click.command("pull")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@output_option("Write the bundle (Parquet) here.", required=True)
@window_options
@live_options
@bigquery_options
@fail_cleanly
def pull_command(results: tuple[Path, ...], output: Path, **options: Any) -> None:
    """Pull the Cloud Logging entries of the failure windows in RESULTS into a bundle.

    `fivewhys analyze RESULTS --logs BUNDLE` then explains the failures offline, the same way,
    even after the logs' retention has passed.
    """
    settings = settings_from(options)
    if options["bigquery"]:
        source = bigquery_source_from(settings, options, other_logs=False)
        assert source is not None
        logs = pull_bigquery(results, source, tz=options["tz"], settings=settings)
        kept = save_bundle(output, logs)
        scan = kept.pull.bigquery
        assert scan is not None
        click.echo(
            f"wrote {output}: {kept.entry_count} entries from BigQuery {scan.dataset}, "
            f"{len(kept.pull.windows)} window(s), {len(kept.missing_windows)} not complete; "
            f"{scan.bytes_scanned} bytes scanned",
            err=True,
        )
        return
    if not asks_for_pull(options):
        raise FivewhysError(
            "fivewhys pull needs --service NAME (and --project or GOOGLE_CLOUD_PROJECT)"
        )
    live = live_source_from(settings, options)
    pulled = pull(results, live, tz=options["tz"], settings=settings)
    meta = save_bundle(output, pulled.logs)
    stats = pulled.stats
    click.echo(
        f"wrote {output}: {meta.entry_count} entries from {len(meta.pull.windows)} window(s), "
        f"{len(meta.missing_windows)} not complete; {stats.requests} request(s), "
        f"{stats.cached_windows} window(s) from the cache",
        err=True,
    )
