"""`fivewhys rules ...`: check and inspect rule libraries."""

from __future__ import annotations

from pathlib import Path

import click

from fivewhys.cli_support import fail_cleanly
from fivewhys.rules.loader import bundled_rules_dir, load_rules


@click.group("rules")
def rules_group() -> None:
    """Check and inspect rule libraries."""


@rules_group.command("validate")
@click.argument("dirs", nargs=-1, type=click.Path(path_type=Path, file_okay=False))
@fail_cleanly
def validate_command(dirs: tuple[Path, ...]) -> None:
    """Report every problem in the rules of DIRS (default: the bundled library)."""
    targets = list(dirs) or [bundled_rules_dir()]
    rules = load_rules(targets, collect_errors=True)
    where = ", ".join(str(d) for d in targets)
    click.echo(f"{len(rules)} rule(s) valid in {where}")
