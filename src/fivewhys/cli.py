"""The `fivewhys` command: a group whose subcommands load on first use, so `fivewhys --help`
imports click and nothing of the analysis (polars, pydantic, the cloud client)."""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from fivewhys import __version__

#: subcommand -> (module, attribute, one-line help shown by `fivewhys --help`); a test holds the
#: help equal to each command's own
COMMANDS: dict[str, tuple[str, str, str]] = {
    "analyze": (
        "fivewhys.cli_analyze",
        "analyze_command",
        "Explain the failures in RESULTS (JUnit XML, pytest-reportlog,...",
    ),
    "ci": (
        "fivewhys.cli_ci",
        "ci_command",
        "Analyse a red run for CI: reports and bundle in --artifacts,...",
    ),
    "history": (
        "fivewhys.cli_ci",
        "history_group",
        "Causes across runs (the directory given to `ci --history`).",
    ),
    "pull": (
        "fivewhys.cli_analyze",
        "pull_command",
        "Pull the Cloud Logging entries of the failure windows in RESULTS...",
    ),
    "rules": ("fivewhys.cli_rules", "rules_group", "Check, test, explain and grow rule libraries."),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _help = COMMANDS[cmd_name]
        with _uncollected():
            command: click.Command = getattr(importlib.import_module(module), attribute)
        self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands and their one-line help, without importing them."""
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@contextmanager
def _uncollected() -> Iterator[None]:
    """Import with the cycle collector off, then freeze what was made: the analysis' import
    builds some 90,000 long-lived objects (polars, pydantic's validators) and hardly any
    garbage, yet at the default thresholds the collector walks them over and over (about
    40 ms of the bundled example's 0.6 s); frozen, no later collection walks them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fivewhys")
def cli() -> None:
    """Draft five-whys root-cause reports for red e2e runs against Cloud Run."""


def main() -> None:
    """Console-script entry point: on the way out, the process ends without tearing down the
    interpreter (as mypy does), whose freeing of every module and object was 10 ms of the
    bundled example; everything fivewhys writes is closed by then, and it has no exit hooks."""
    try:
        cli(prog_name="fivewhys")
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    if not isinstance(code, int):  # None, or a message for sys.exit to print: exit as it would
        raise SystemExit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # a closed pipe: the interpreter's own exit reports it as always
        raise SystemExit(code) from None
    os._exit(code)


if __name__ == "__main__":
    main()
