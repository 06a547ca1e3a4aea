"""The `fivewhys` command: options in, one pipeline call, errors mapped to exit codes."""

from __future__ import annotations

import re
from datetime import timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from fivewhys import __version__
from fivewhys.cli_rules import rules_group
from fivewhys.cli_support import fail_cleanly
from fivewhys.config import load_settings
from fivewhys.errors import FivewhysError
from fivewhys.pipeline import Analysis, OutputFormat, analyze, render

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


@cli.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--logs",
    "logs",
    multiple=True,
    metavar="PATH_OR_GLOB",
    help="Cloud Logging entries: `gcloud logging read --format=json` output or NDJSON sink "
    "files. Repeatable; globs allowed.",
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
@click.option("--tz", type=TimeZoneParam(), help="Zone of naive JUnit timestamps (default UTC).")
@click.option("--before", type=float, help="Seconds to look before a test started (default 30).")
@click.option("--after", type=float, help="Seconds to look after a test failed (default 10).")
@click.option("--skew", type=float, help="Client/server clock skew allowed, seconds (default 2).")
@fail_cleanly
def analyze_command(
    results: tuple[Path, ...],
    logs: tuple[str, ...],
    output: Path | None,
    output_format: str | None,
    rule_dirs: tuple[Path, ...],
    tz: tzinfo | None,
    before: float | None,
    after: float | None,
    skew: float | None,
) -> None:
    """Explain the failures in RESULTS (JUnit XML, pytest-reportlog, pytest-json-report)."""
    settings = load_settings(Path.cwd())
    pads = {"before_s": before, "after_s": after, "skew_s": skew}
    window = settings.window.model_copy(update={k: v for k, v in pads.items() if v is not None})
    settings = settings.model_copy(update={"window": window})
    configured = tuple(Path(p) for p in settings.rules)
    report = analyze(
        Analysis(
            results=results,
            logs=logs,
            rule_dirs=(*configured, *rule_dirs),
            tz=tz,
            settings=settings,
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
    unexplained = sum(1 for f in report.failures if f.cause_id is None)
    click.echo(
        f"wrote {output}: {len(report.failures)} failure(s), {len(report.causes)} cause(s), "
        f"{unexplained} unexplained",
        err=True,
    )


analyze_command.name = "analyze"


cli.add_command(rules_group)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="fivewhys")
