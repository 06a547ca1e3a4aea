"""One error root carrying a location, and the exit codes, named once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Process exit codes of the `fivewhys` command."""

    OK = 0
    #: `rules test`: a rule failed one of its fixtures
    RULE_TESTS_FAILED = 1
    #: `rules validate --strict`: the why lint warned
    RULE_LINT_WARNINGS = 1
    #: `ci --fail-on-unexplained`: a failure has no cause and is not the test's own
    UNEXPLAINED_FAILURES = 1
    #: `ci --fail-on-flaky`: a test failed, then passed on a rerun
    FLAKY_TESTS = 1
    #: a usage problem or bad input (file, rule, option): nothing trustworthy was written
    INPUT_ERROR = 2
    #: `ci --strict`: the logs could not be read, or not all of them
    LOGS_INCOMPLETE = 3


class FivewhysError(Exception):
    """A problem the user can fix, with the file and place it was found at.

    `str()` gives one line: ``path:line: message`` (or ``path: message``).
    """

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.column = column

    @property
    def location(self) -> str:
        if self.path is None:
            return ""
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def __str__(self) -> str:
        one_line = " ".join(self.message.split())
        return f"{self.location}: {one_line}" if self.location else one_line


class InputError(FivewhysError):
    """A results or log file could not be read or understood."""


#: what a reader's own code may raise on values no reader check foresaw (a NaN time, a year
#: past 9999, nesting past the recursion limit, an integer past the digit limit)
UNFORESEEN = (ValueError, OverflowError, RecursionError, TypeError, KeyError, IndexError)


@contextmanager
def read_as_input(path: str | Path) -> Iterator[None]:
    """Any unforeseen reader exception in this block becomes the one-line InputError naming
    `path`: bad input never ends in a traceback, whatever a reader missed."""
    try:
        yield
    except FivewhysError:
        raise
    except UNFORESEEN as exc:
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InputError(f"cannot be read: {detail}", path) from None


class RuleError(FivewhysError):
    """A rule file is invalid."""


class RuleErrors(FivewhysError):
    """Every problem found in a rule directory, reported at once."""

    def __init__(self, errors: list[RuleError]) -> None:
        super().__init__(f"{len(errors)} problem(s) in rules")
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)
