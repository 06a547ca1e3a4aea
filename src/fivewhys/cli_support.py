"""What the commands share: option groups, settings and live sources from options, and errors
as one line on stderr with exit code 2."""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from click.core import ParameterSource

from fivewhys.config import Settings, load_settings
from fivewhys.controls import escape_controls
from fivewhys.errors import ExitCode, FivewhysError
from fivewhys.linear_regex import without_surrogates
from fivewhys.logs.endpoints import BIGQUERY_ENDPOINT_ENV, LOGGING_ENDPOINT_ENV, check_endpoint
from fivewhys.logs.frame import SEVERITY_RANK
from fivewhys.model import Report
from fivewhys.pipeline import Flavor
from fivewhys.redact import clean_text
from fivewhys.resources import default_cache_dir

if TYPE_CHECKING:  # imported where used: a file analysis neither pulls nor queries
    from fivewhys.logs.bigquery import BigQuerySource
    from fivewhys.logs.live import LiveSource

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


def fail_cleanly(command: Callable[P, R]) -> Callable[P, R]:
    """A FivewhysError becomes its one-line message on stderr and exit code 2, no traceback;
    text it quotes from a file is cleaned (no secret, control character or CI command)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except FivewhysError as exc:
            for line in clean_text(str(exc)).splitlines():
                click.echo(f"error: {line}", err=True)
            sys.exit(ExitCode.INPUT_ERROR)

    return wrapper


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


class MomentParam(click.ParamType):  # type: ignore[type-arg]
    """An ISO 8601 time with its UTC offset (`2025-09-07T15:22:09Z`, `...+02:00`)."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        text = str(value)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is not an ISO 8601 time (e.g. 2025-09-07T15:22:09Z)")
        if moment.tzinfo is None:
            self.fail(f"{text!r} has no UTC offset: add Z or one like +02:00")
        return moment.astimezone(UTC)


def started_at_option(command: F) -> F:
    """--started-at: the run's start, for results files that do not write it."""
    return click.option(
        "--started-at",
        type=MomentParam(),
        help="When the run started, for results that do not say (JUnit before pytest 5.1); "
        "ISO 8601 with offset.",
    )(command)


def repo_option(command: F) -> F:
    """--repo: a local git checkout of the service, for the commits that touched a raising
    frame (`[tool.fivewhys] repo` when not given)."""
    return click.option(
        "--repo",
        type=click.Path(path_type=Path, file_okay=False),
        help="A local git checkout of the service: list the commits that touched each cause's "
        "raising frame (read with git, no network).",
    )(command)


def repo_from(settings: Settings, given: Path | None) -> Path | None:
    """--repo, else the settings' `repo` (relative to the working directory)."""
    return given if given is not None else Path(settings.repo) if settings.repo else None


def history_from(settings: Settings, given: Path | None) -> Path | None:
    """--history, else the settings' `history` (relative to the working directory)."""
    return given if given is not None else Path(settings.history) if settings.history else None


#: CI environment variables holding the commit a job runs on (GitHub Actions, GitLab CI)
COMMIT_ENV = ("GITHUB_SHA", "CI_COMMIT_SHA")


def expect_options(command: F) -> F:
    """--expect-revision, --expect-commit, --expect-commit-from-env: what the run was meant to
    test; a served revision that is not it is said first in the report."""
    command = click.option(
        "--expect-commit-from-env",
        is_flag=True,
        help=f"Expect the commit the CI job runs on ({' or '.join(COMMIT_ENV)}).",
    )(command)
    command = click.option(
        "--expect-commit",
        help="The commit the run was meant to test (a served revision's commit-sha label).",
    )(command)
    return click.option(
        "--expect-revision", help="The Cloud Run revision the run was meant to test."
    )(command)


def expectations(options: dict[str, Any]) -> dict[str, str | None]:
    """`expect_revision` and `expect_commit` for `Analysis` from the options (and the CI
    environment when --expect-commit-from-env asks)."""
    commit = options.pop("expect_commit", None)
    if options.pop("expect_commit_from_env", False) and not commit:
        commit = next((os.environ[name] for name in COMMIT_ENV if os.environ.get(name)), None)
        if commit is None:
            raise FivewhysError(f"--expect-commit-from-env: none of {', '.join(COMMIT_ENV)} is set")
    return {"expect_revision": options.pop("expect_revision", None), "expect_commit": commit}


def warn_unread_logs(report: Report) -> None:
    """Each log file the analysis went on without, named on stderr with the reason."""
    for file in report.log_files:
        if file.unread is not None:
            click.echo(
                f"warning: {file.path}: not read ({file.unread}); the analysis went on without it",
                err=True,
            )


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
                envvar=LOGGING_ENDPOINT_ENV,
                metavar="URL",
                help="Cloud Logging API endpoint, e.g. an emulator; plain http:// is read "
                f"anonymously (default: ${LOGGING_ENDPOINT_ENV}, else Google's).",
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


#: `analyze --pull`: `fivewhys pull` always reads every entry (a bundle is re-analysed later,
#: perhaps with other rules)
pull_option = click.option(
    "--pull",
    "pull_mode",
    type=click.Choice(["narrow", "all"]),
    default="narrow",
    show_default=True,
    help="narrow: only the lines that can be evidence (keyed lines, then time-joinable lines, "
    "then whole windows of unexplained failures); all: every entry of every window.",
)


#: `--deploy-lookback`: how far before the run a live pull looks for the service's deploys
DEFAULT_DEPLOY_LOOKBACK_DAYS = 7.0

deploy_lookback_option = click.option(
    "--deploy-lookback",
    "deploy_lookback",
    type=click.FloatRange(min=0),
    default=DEFAULT_DEPLOY_LOOKBACK_DAYS,
    show_default=True,
    metavar="DAYS",
    help="With a live pull, read the services' Cloud Run deploys (audit log) from this many "
    "days before the run to its end, one query per service; 0 reads none.",
)


def settings_from(options: dict[str, Any]) -> Settings:
    """Project settings, with the command line's window pads on top."""
    settings = load_settings(Path.cwd())
    pads = {k: options[k] for k in ("before", "after", "skew") if options[k] is not None}
    window = settings.window.model_copy(update={f"{k}_s": v for k, v in pads.items()})
    return settings.model_copy(update={"window": window})


def asks_for_pull(options: dict[str, Any]) -> bool:
    """--service or an explicit --project; GOOGLE_CLOUD_PROJECT alone (set in many shells) only
    supplies the project of a pull asked for."""
    source = click.get_current_context().get_parameter_source("project")
    return bool(options["services"]) or source is ParameterSource.COMMANDLINE


def live_source_from(settings: Settings, options: dict[str, Any]) -> LiveSource:
    """The live pull the options describe, checked."""
    from fivewhys.logs.cache import WindowCache
    from fivewhys.logs.live import LiveSource

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
        progress=say if verbose else None,
        pull="all" if options.get("pull_mode") == "all" else "narrow",
        deploy_lookback_days=options.get("deploy_lookback", DEFAULT_DEPLOY_LOOKBACK_DAYS),
    )


def bigquery_options(command: F) -> F:
    """Where to query logs routed to BigQuery, and how much a query may scan (analyze, pull)."""
    for option in reversed(
        [
            click.option(
                "--bigquery",
                "bigquery",
                metavar="PROJECT.DATASET",
                help="Query the logs in BigQuery instead: a Log Analytics linked dataset or a "
                "log sink's dataset (config: [tool.fivewhys.bigquery] dataset).",
            ),
            click.option(
                "--max-bytes",
                type=click.IntRange(min=1),
                metavar="BYTES",
                help="Refuse a BigQuery query that would scan more (default 10 GiB; also its "
                "maximum_bytes_billed).",
            ),
            click.option(
                "--bigquery-endpoint",
                envvar=BIGQUERY_ENDPOINT_ENV,
                metavar="URL",
                help="BigQuery API endpoint, e.g. an emulator; plain http:// is used anonymously "
                f"(default: ${BIGQUERY_ENDPOINT_ENV}, else Google's).",
            ),
        ]
    ):
        command = option(command)
    return command


def bigquery_source_from(
    settings: Settings, options: dict[str, Any], *, other_logs: bool
) -> BigQuerySource | None:
    """The BigQuery read the options (or the config, when no other logs are given) ask for."""
    dataset = options["bigquery"]
    if dataset and other_logs:
        raise FivewhysError("give one source of logs: --bigquery, --logs or a live pull")
    dataset = dataset or (None if other_logs else settings.bigquery.dataset)
    if not dataset:
        return None
    from fivewhys.logs.bigquery import BigQuerySource
    from fivewhys.logs.bigquery_sql import parse_dataset

    try:
        project, name = parse_dataset(dataset)
    except ValueError as exc:
        raise FivewhysError(f"--bigquery: {exc}") from None
    endpoint = options["bigquery_endpoint"]
    if endpoint:
        try:
            endpoint = check_endpoint(endpoint)
        except ValueError as exc:
            raise FivewhysError(f"--bigquery-endpoint: {exc}") from None
    verbose = options["verbose"] or sys.stderr.isatty()
    return BigQuerySource(
        project=project,
        dataset=name,
        services=tuple(dict.fromkeys(options["services"])),
        endpoint=endpoint or None,
        max_bytes=options["max_bytes"] or settings.bigquery.max_bytes,
        progress=say if verbose else None,
    )


def say(line: str) -> None:
    """A progress line on stderr (it may quote an API's answer: shown with controls escaped)."""
    click.echo(escape_controls(line), err=True)


def output_option(help: str, *, required: bool = False) -> Callable[[F], F]:
    """`-o/--output FILE`, as every command that writes one file spells it."""
    return click.option(
        "-o",
        "--output",
        required=required,
        type=click.Path(path_type=Path, dir_okay=False),
        help=help,
    )


def write_file(path: Path, text: str, what: str = "") -> None:
    """Write `text` to `path`, or stop with a one-line error that names the file."""
    try:
        path.write_text(without_surrogates(text), encoding="utf-8")
    except OSError as exc:
        label = f"cannot write {what}" if what else "cannot write"
        raise FivewhysError(f"{label}: {exc.strerror}", path) from None


def write_or_echo(text: str, output: Path | None, what: str) -> bool:
    """`text` into `output`, or on stdout when there is none; True when a file was written.
    Text for stdout holds text from outside: no line of it may act on a terminal or a CI runner
    (the report is cleaned field by field already; this holds for any text given here)."""
    if output is None:
        click.echo(escape_controls(text), nl=False)
        return False
    write_file(output, text, what)
    return True


logs_option = click.option(
    "--logs",
    "logs",
    multiple=True,
    metavar="PATH_OR_GLOB",
    help="Cloud Logging entries: `gcloud logging read --format=json` output, NDJSON sink "
    "files, or a bundle from `fivewhys pull`. Repeatable; globs allowed.",
)
"""Log files to read (analyze, ci, rules explain/suggest)."""

rules_option = click.option(
    "--rules",
    "rule_dirs",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Extra rule directory; its rules add to (and override by id) the bundled ones.",
)
"""Project rule directories on top of the bundled library."""


flavor_option = click.option(
    "--flavor",
    type=click.Choice([f.value for f in Flavor]),
    default=Flavor.GFM.value,
    show_default=True,
    help="Markup of Markdown output: GitHub-flavoured Markdown or Jira wiki markup.",
)
"""Which markup Markdown output uses (analyze, ci)."""
