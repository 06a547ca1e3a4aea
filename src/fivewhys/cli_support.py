"""What every command shares: errors become one line on stderr and exit code 2."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click

from fivewhys.errors import ExitCode, FivewhysError

P = ParamSpec("P")
R = TypeVar("R")


def fail_cleanly(command: Callable[P, R]) -> Callable[P, R]:
    """A FivewhysError becomes its one-line message on stderr and exit code 2, no traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except FivewhysError as exc:
            for line in str(exc).splitlines():
                click.echo(f"error: {line}", err=True)
            sys.exit(ExitCode.INPUT_ERROR)

    return wrapper
