"""The `fivewhys` command: options in, one pipeline call, errors mapped to exit codes."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from click.core import ParameterSource

from fivewhys import __version__
from fivewhys.cli_rules import rules_group
from fivewhys.cli_support import fail_cleanly
from fivewhys.config import Settings, load_settings
from fivewhys.errors import FivewhysError
from fivewhys.logs.cache import WindowCache, default_cache_dir
from fivewhys.logs.frame import SEVERITY_RANK
from fivewhys.logs.live import ENDPOINT_ENV, LiveSource, check_endpoint
from fivewhys.pipeline import Analysis, OutputFormat, analyze, pull, render, save_bundle

F = TypeVar("F", bound=Callable[..., Any])

_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


class TimeZoneParam(click.ParamType):  # type: ignore[type-arg]
    """`Europe/Berlin`, `UTC` or `-07:00`: the zone naive JUnit timestamps were written in."""

    name = "zone"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tzinfo):
            return value
        text = str(value)
        if match := _OFFSET.match(text):
            sign = -1 if match.group(1) == "-" else 1
            minutes = int(match.group(2)) * 60 + int(match.group(3))
            return timezone(sign * timedelta(minutes=minutes))
        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            self.fail(f"unknown time zone {text!r} (use a name like Europe/Berlin or -07:00)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fivewhys")
def cli() -> None:
    """Draft five-whys root-cause reports for red e2e runs against Cloud Run."""


def window_options(command: F) -> F:
    """How results are read and how wide a failure's window is (analyze and pull)."""
    for option in reversed(
        [
            click.option(
                "--tz", type=TimeZoneParam(), help="Zone of naive JUnit timestamps (default UTC)."
            ),
            click.option(
                "--before", type=float, help="Seconds to look before a test started (default 30)."
            ),
            click.option(
                "--after", type=float, help="Seconds to look after a test failed (default 10)."
            ),
            click.option(
                "--skew", type=float, help="Client/server clock skew allowed, seconds (default 2)."
            ),
        ]
    ):
        command = option(command)
    return command


def live_options(command: F) -> F:
    """Where and how to pull logs from Cloud Logging (analyze and pull)."""
    for option in reversed(
        [
            click.option(
                "--project",
                envvar="GOOGLE_CLOUD_PROJECT",
                metavar="PROJECT",
                help="Google Cloud project to pull logs from (default: $GOOGLE_CLOUD_PROJECT).",
            ),
            click.option(
                "--service",
                "services",
                multiple=True,
                metavar="NAME",
                help="Cloud Run service whose logs to pull. Repeatable.",
            ),
            click.option(
                "--severity",
                type=click.Choice(list(SEVERITY_RANK), case_sensitive=False),
                help="Pull only entries at or above this severity.",
            ),
            click.option(
                "--api-endpoint",
                "endpoint",
                envvar=ENDPOINT_ENV,
                metavar="URL",
                help="Cloud Logging API endpoint, e.g. an emulator; plain http:// is read "
                f"anonymously (default: ${ENDPOINT_ENV}, else Google's).",
            ),
            click.option(
                "--rate",
                type=click.FloatRange(min=0, min_open=True),
                metavar="PER_SECOND",
                help="Most API requests per second (default 1; the read quota is 60 a minute).",
            ),
            click.option(
                "--settle",
                type=click.FloatRange(min=0),
                metavar="SECONDS",
                help="Most seconds to wait for Cloud Logging to ingest the newest window "
                "(default 60).",
            ),
            click.option(
                "--no-cache",
                is_flag=True,
                help="Read every window from the API, not from the local cache of pulled windows.",
            ),
            click.option(
                "-v", "--verbose", is_flag=True, help="Progress on stderr even when not a terminal."
            ),
        ]
    ):
        command = option(command)
    return command


@cli.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--logs",
    "logs",
    multiple=True,
    metavar="PATH_OR_GLOB",
    help="Cloud Logging entries: `gcloud logging read --format=json` output, NDJSON sink "
    "files, or a bundle from `fivewhys pull`. Repeatable; globs allowed.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the report here (default: stdout).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice([f.value for f in OutputFormat]),
    help="Report format (default: from the output's extension, else md).",
)
@click.option(
    "--rules",
    "rule_dirs",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Extra rule directory; its rules add to (and override by id) the bundled ones.",
)
@window_options
@live_options
@click.option(
    "--save-logs",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Keep the pulled logs as a bundle (Parquet) to re-analyse later with --logs.",
)
@fail_cleanly
def analyze_command(
    results: tuple[Path, ...],
    logs: tuple[str, ...],
    output: Path | None,
    output_format: str | None,
    rule_dirs: tuple[Path, ...],
    save_logs: Path | None,
    **options: Any,
) -> None:
    """Explain the failures in RESULTS (JUnit XML, pytest-reportlog, pytest-json-report).

    Logs come from --logs files, or are pulled from Cloud Logging for the failure windows
    when --service is given (with --project or GOOGLE_CLOUD_PROJECT).
    """
    settings = _settings(options)
    live = _live_source(settings, options) if _asks_for_pull(options) else None
    if live is not None and logs:
        raise FivewhysError("give either --logs or a live pull (--service, --project), not both")
    if save_logs is not None and live is None:
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
            save_logs=save_logs,
        )
    )
    if output_format is None:
        output_format = "json" if output and output.suffix == ".json" else "md"
    text = render(report, OutputFormat(output_format))
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise FivewhysError(f"cannot write report: {exc.strerror}", output) from None
    click.echo(f"wrote {output}: {report.counts_line()}", err=True)


analyze_command.name = "analyze"


@cli.command("pull")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the bundle (Parquet) here.",
)
@window_options
@live_options
@fail_cleanly
def pull_command(results: tuple[Path, ...], output: Path, **options: Any) -> None:
    """Pull the Cloud Logging entries of the failure windows in RESULTS into a bundle.

    `fivewhys analyze RESULTS --logs BUNDLE` then explains the failures offline, the same way,
    even after the logs' retention has passed.
    """
    if not _asks_for_pull(options):
        raise FivewhysError(
            "fivewhys pull needs --service NAME (and --project or GOOGLE_CLOUD_PROJECT)"
        )
    settings = _settings(options)
    live = _live_source(settings, options)
    pulled = pull(results, live, tz=options["tz"], settings=settings)
    meta = save_bundle(output, pulled.logs)
    stats = pulled.stats
    click.echo(
        f"wrote {output}: {meta.entry_count} entries from {len(meta.pull.windows)} window(s), "
        f"{len(meta.missing_windows)} not complete; {stats.requests} request(s), "
        f"{stats.cached_windows} window(s) from the cache",
        err=True,
    )


def _settings(options: dict[str, Any]) -> Settings:
    """Project settings, with the command line's window pads on top."""
    settings = load_settings(Path.cwd())
    pads = {k: options[k] for k in ("before", "after", "skew") if options[k] is not None}
    window = settings.window.model_copy(update={f"{k}_s": v for k, v in pads.items()})
    return settings.model_copy(update={"window": window})


def _asks_for_pull(options: dict[str, Any]) -> bool:
    """--service or an explicit --project; GOOGLE_CLOUD_PROJECT alone (set in many shells) only
    supplies the project of a pull asked for."""
    source = click.get_current_context().get_parameter_source("project")
    return bool(options["services"]) or source is ParameterSource.COMMANDLINE


def _live_source(settings: Settings, options: dict[str, Any]) -> LiveSource:
    """The live pull the options describe, checked."""
    project: str | None = options["project"]
    services: tuple[str, ...] = options["services"]
    if not project:
        raise FivewhysError(
            "no Google Cloud project: pass --project PROJECT or set GOOGLE_CLOUD_PROJECT"
        )
    if not services:
        raise FivewhysError(
            "a live pull needs --service NAME: the Cloud Run service(s) the tests ran against"
        )
    endpoint = options["endpoint"]
    if endpoint:
        try:
            endpoint = check_endpoint(endpoint)
        except ValueError as exc:
            raise FivewhysError(f"--api-endpoint: {exc}") from None
    overrides = {"requests_per_s": options["rate"], "settle_s": options["settle"]}
    logging = settings.logging.model_copy(
        update={k: v for k, v in overrides.items() if v is not None}
    )
    verbose = options["verbose"] or sys.stderr.isatty()
    return LiveSource(
        project=project,
        services=tuple(dict.fromkeys(services)),
        severity=options["severity"].upper() if options["severity"] else None,
        endpoint=endpoint or None,
        settings=logging,
        cache=None if options["no_cache"] else WindowCache(default_cache_dir()),
        progress=_say if verbose else None,
    )


def _say(line: str) -> None:
    click.echo(line, err=True)


cli.add_command(rules_group)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="fivewhys")
