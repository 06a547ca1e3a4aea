"""`fivewhys rules ...`: check, test, explain and grow rule libraries."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from fivewhys.authoring.explain import explain_rule, render_rule_report
from fivewhys.authoring.fixtures import run_rule_tests
from fivewhys.authoring.suggest import clusters, draft_id, draft_rule
from fivewhys.authoring.workbench import bench_from_files, library
from fivewhys.cli_support import (
    fail_cleanly,
    logs_option,
    output_option,
    rules_option,
    write_or_echo,
)
from fivewhys.config import load_settings
from fivewhys.errors import ExitCode, FivewhysError
from fivewhys.redact import clean_text
from fivewhys.rules.jsonschema import rule_json_schema_text
from fivewhys.rules.lint import lint_rules
from fivewhys.rules.loader import bundled_rules_dir, load_rules

F = TypeVar("F", bound=Callable[..., object])


def _run_inputs(command: F) -> F:
    """The options `explain` and `suggest` share with `analyze`: results, logs, rules."""
    for decorator in reversed(
        (
            click.option(
                "--results",
                "results",
                multiple=True,
                required=True,
                type=click.Path(path_type=Path, dir_okay=False),
                help="JUnit XML, pytest-reportlog or pytest-json-report file. Repeatable.",
            ),
            logs_option,
            rules_option,
        )
    ):
        command = decorator(command)
    return command


def _dirs(dirs: tuple[Path, ...]) -> list[Path]:
    return list(dirs) or [bundled_rules_dir()]


@click.group("rules")
def rules_group() -> None:
    """Check, test, explain and grow rule libraries."""


@rules_group.command("validate")
@click.argument("dirs", nargs=-1, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 when the why lint warns (a why that states a cause without evidence, ...).",
)
@fail_cleanly
def validate_command(dirs: tuple[Path, ...], strict: bool) -> None:
    """Report every problem in the rules of DIRS (default: the bundled library).

    Later directories override earlier ones by id, as --rules does. Invalid rules exit 2.
    Valid rules are then linted: whys that assert what no selection proves are warnings
    (exit 0, or 1 with --strict).
    """
    targets = _dirs(dirs)
    rules = load_rules(targets, collect_errors=True)
    issues = lint_rules(rules)
    for issue in issues:
        click.echo(str(issue))
    where = ", ".join(str(d) for d in targets)
    warnings = sum(issue.severity == "warning" for issue in issues)
    summary = f", {warnings} lint warning(s)" if warnings else ""
    click.echo(f"{len(rules)} rule(s) valid in {where}{summary}")
    if strict and warnings:
        sys.exit(ExitCode.RULE_LINT_WARNINGS)


@rules_group.command("test")
@click.argument("dirs", nargs=-1, type=click.Path(path_type=Path, file_okay=False))
@fail_cleanly
def test_command(dirs: tuple[Path, ...]) -> None:
    """Run every rule of DIRS against its good*/bad* fixtures (default: the bundled library).

    Exit 0 when all pass, 1 when a fixture fails or a rule lacks one, 2 for invalid rules or
    fixtures.
    """
    rules = load_rules(_dirs(dirs), collect_errors=True)
    results = run_rule_tests(rules)
    for result in results:
        mark = "PASS" if result.passed else "FAIL"
        name = result.path.name if result.path is not None else f"({result.kind})"
        click.echo(f"{mark} {result.rule_id} {name}: {result.detail}")
    failed = sum(not r.passed for r in results)
    click.echo(
        f"{len(rules)} rule(s), {len(results)} check(s): {len(results) - failed} passed, "
        f"{failed} failed"
    )
    if failed:
        sys.exit(ExitCode.RULE_TESTS_FAILED)


@rules_group.command("explain")
@click.argument("rule_id")
@_run_inputs
@click.option("--test", "test_filter", help="Only failures whose test id contains this text.")
@fail_cleanly
def explain_command(
    rule_id: str,
    results: tuple[Path, ...],
    logs: tuple[str, ...],
    rule_dirs: tuple[Path, ...],
    test_filter: str | None,
) -> None:
    """Why RULE_ID did or did not match each failure of a run, step by step."""
    settings = load_settings(Path.cwd())
    rules = library(rule_dirs, settings)
    rule = next((r for r in rules if r.id == rule_id), None)
    if rule is None:
        raise FivewhysError(
            f"no rule {rule_id!r} (known: {', '.join(sorted(r.id for r in rules))})"
        )
    bench = bench_from_files(results, logs, settings)
    shown = 0
    for failure, candidates in zip(bench.failures, bench.candidates, strict=True):
        if test_filter and test_filter not in failure.test_id:
            continue
        report = explain_rule(rule, failure, candidates, rules, bench.slack_s)
        # the explanation quotes test ids, messages and log lines: cleaned like a report
        click.echo(("\n" if shown else "") + clean_text(render_rule_report(report)))
        shown += 1
    if not shown:
        which = f" matching {test_filter!r}" if test_filter else ""
        click.echo(f"no failure{which} in the results", err=True)


@rules_group.command("suggest")
@_run_inputs
@output_option("Write the draft rule here (default: stdout).")
@click.option(
    "--cluster",
    "number",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Which cluster to draft, as listed on stderr.",
)
@fail_cleanly
def suggest_command(
    results: tuple[Path, ...],
    logs: tuple[str, ...],
    rule_dirs: tuple[Path, ...],
    output: Path | None,
    number: int,
) -> None:
    """Draft a rule from the unexplained failures of a run, for a human to finish."""
    settings = load_settings(Path.cwd())
    rules = library(rule_dirs, settings)
    found = clusters(bench_from_files(results, logs, settings), rules)
    if not found:
        click.echo(
            "nothing to draft: no unexplained failure has a keyed server line at WARNING or above",
            err=True,
        )
        return
    click.echo(f"{len(found)} cluster(s) of unexplained failures:", err=True)
    for index, cluster in enumerate(found, start=1):
        first = clean_text(" ".join(cluster.template.split()))[:120]
        click.echo(f"  {index}. {len(cluster.failures)} failure(s): {first}", err=True)
    if number > len(found):
        raise FivewhysError(f"--cluster {number}: there are only {len(found)} cluster(s)")
    cluster = found[number - 1]
    rule_id = draft_id(clean_text(cluster.template), {r.id for r in rules})
    out_dir = output.parent if output is not None else Path.cwd()
    text = draft_rule(cluster, rule_id, bundled_rules_dir() / "schema.json", out_dir)
    if write_or_echo(text, output, "draft"):
        click.echo(f"wrote {output}: draft rule {rule_id} from cluster {number}", err=True)


@rules_group.command("schema")
@output_option("Write the JSON Schema here (default: stdout).")
@fail_cleanly
def schema_command(output: Path | None) -> None:
    """Print the JSON Schema of a rule file (the bundled rules/schema.json)."""
    if write_or_echo(rule_json_schema_text(), output, "schema"):
        click.echo(f"wrote {output}", err=True)
