"""Rule fixtures and their runner (`fivewhys rules test`), in the manner of semgrep's rule tests.

A rule's fixtures live in `tests/<rule-id>/` beside the rule file (or where its `tests:` key
points). `good*.yaml` must match, and the rule must be the library's first match for it (so a
higher-priority rule cannot silently take its failures); `bad*.yaml` is a near miss that must
not match. A fixture is one client failure and the Cloud Logging entries around it:

    failure:
      message: "websockets.exceptions.ConnectionClosedError: received 1011 ..."
      details: ""                       # traceback / captured output, optional
      outcome: failed                   # or error (a fixture raised); phase: call/setup/...
      started_at: 2025-09-07T15:00:00Z  # optional (default: finished_at)
      finished_at: 2025-09-07T15:00:02Z
      ids: {connection_id: conn_1, user_id: usr_1, trace: 0af7...}   # as record_property
    logs:                               # LogEntry objects, as gcloud logging read prints them
      - {insertId: a1, logName: projects/p/logs/run.googleapis.com%2Fstdout, ...}
    expect:                             # good fixtures only, optional
      evidence: a1                      # insertId of the line that must come first
      chain: [deeper-rule-id]           # deeper rules the logs must confirm, in order
      chain_evidence: [a7]              # and the first line of each
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError

from fivewhys.authoring.explain import explain_rule
from fivewhys.authoring.workbench import bench_from_frame, frame_from_entries
from fivewhys.config import WindowSettings
from fivewhys.errors import RuleError, RuleErrors
from fivewhys.ids import DEFAULT_PATTERNS
from fivewhys.model import Evidence, Record
from fivewhys.results.common import make_failure
from fivewhys.rules.loader import DuplicateKeyError, RuleYamlLoader
from fivewhys.rules.matcher import Chain, Match, match_rule
from fivewhys.rules.schema import Rule
from fivewhys.whys import explain_one

Kind = Literal["good", "bad"]
KINDS: tuple[Kind, ...] = ("good", "bad")
FIXTURE_SUFFIXES = (".yaml", ".yml")


class FixtureIds(Record):
    """Ids the test recorded (record_property), as the results readers would find them."""

    connection_id: str | None = None
    user_id: str | None = None
    trace: str | None = None


class FixtureFailure(Record):
    """The client side of a fixture: one failed test."""

    test_id: str | None = Field(default=None, description="default: the fixture's path")
    outcome: Literal["failed", "error"] = "failed"
    phase: Literal["setup", "call", "teardown"] = "call"
    message: str
    details: str = ""
    started_at: datetime | None = None
    finished_at: datetime
    ids: FixtureIds = FixtureIds()


class Expect(Record):
    """What a good fixture must also show beyond a match."""

    evidence: str | None = Field(default=None, description="insertId of the first line")
    chain: tuple[str, ...] | None = Field(default=None, description="confirmed deeper rules")
    chain_evidence: tuple[str, ...] | None = Field(
        default=None, description="insertId of the first line of each confirmed deeper rule"
    )


class Fixture(Record):
    """One fixture file."""

    failure: FixtureFailure
    logs: tuple[dict[str, Any], ...] = ()
    expect: Expect | None = None


@dataclass(frozen=True)
class FixtureResult:
    """The outcome of one fixture, or of a rule that lacks a kind of fixture (`path` None)."""

    rule_id: str
    kind: Kind
    path: Path | None
    passed: bool
    detail: str


class _FixtureLoader(RuleYamlLoader):
    """Timestamps stay strings: LogEntry times are parsed the way log files are."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in RuleYamlLoader.yaml_implicit_resolvers.items()
    }


def fixture_dir(rule: Rule) -> Path:
    """Where a rule's fixtures are: its `tests:` directory, else `tests/<id>/` beside it."""
    assert rule.source is not None, "fixtures belong to rules loaded from files"
    base = Path(rule.source).parent
    return base / rule.tests if rule.tests is not None else base / "tests" / rule.id


def fixture_files(rule: Rule) -> dict[Kind, list[Path]]:
    """The rule's good*/bad* fixture files, sorted by name."""
    directory = fixture_dir(rule)
    files = (
        sorted(p for p in directory.iterdir() if p.suffix in FIXTURE_SUFFIXES)
        if directory.is_dir()
        else []
    )
    return {
        "good": [p for p in files if p.name.startswith("good")],
        "bad": [p for p in files if p.name.startswith("bad")],
    }


def load_fixture(path: Path) -> Fixture:
    """Parse one fixture file; every problem is a RuleError naming the file (and line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleErrors([RuleError(f"cannot read fixture: {exc}", path)]) from None
    loader = _FixtureLoader(text)
    try:
        data = loader.get_single_data()
    except DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise RuleErrors([RuleError(exc.problem or "duplicate key", path, line)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleErrors([RuleError(f"YAML syntax error: {problem}", path, line)]) from None
    finally:
        loader.dispose()
    try:
        return Fixture.model_validate(data)
    except ValidationError as exc:
        raise RuleErrors(
            [
                RuleError(f"{'.'.join(str(p) for p in e['loc']) or 'fixture'}: {e['msg']}", path)
                for e in exc.errors()
            ]
        ) from None


def run_fixture(
    rule: Rule, library: list[Rule], fixture: Fixture, path: Path, kind: Kind
) -> FixtureResult:
    """Run one fixture: the rule against the failure, and the library's first match."""
    if kind == "bad" and fixture.expect is not None:
        raise RuleErrors([RuleError("expect: only good fixtures have expectations", path)])
    spec = fixture.failure
    failure = make_failure(
        test_id=spec.test_id or f"{path.parent.name}/{path.name}",
        outcome=spec.outcome,
        phase=spec.phase,
        message=spec.message,
        details=spec.details,
        window=(spec.started_at or spec.finished_at, spec.finished_at),
        time_exact=True,
        source=str(path),
        test_file=None,
        test_line=None,
        properties={k: v for k, v in spec.ids.model_dump().items() if v},
        patterns=DEFAULT_PATTERNS,
    )
    frame, batch = frame_from_entries(
        (f"{path}: logs[{index}]", entry) for index, entry in enumerate(fixture.logs)
    )
    if batch.skipped:
        reasons = ", ".join(f"{count} {why}" for why, count in sorted(batch.skipped.items()))
        raise RuleErrors([RuleError(f"log entries not understood: {reasons}", path)])
    bench = bench_from_frame([failure], frame, WindowSettings())
    candidates = bench.candidates[0]
    own = match_rule(rule, failure, candidates, bench.slack_s)
    if kind == "bad":
        if own is None:
            reason = explain_rule(rule, failure, candidates, library, bench.slack_s).first_reason()
            return FixtureResult(rule.id, kind, path, True, f"no match ({reason})")
        return FixtureResult(rule.id, kind, path, False, "matches, but a near miss must not")
    if own is None:
        reason = explain_rule(rule, failure, candidates, library, bench.slack_s).first_reason()
        return FixtureResult(rule.id, kind, path, False, f"does not match: {reason}")
    explained = explain_one(failure, candidates, library, bench.slack_s)
    assert explained.match is not None  # the rule itself matches, so something does
    if explained.match.rule.id != rule.id:
        first = explained.match.rule.id
        return FixtureResult(rule.id, kind, path, False, f"matches, but {first} matches first")
    return _check_expectations(rule, fixture.expect, own, explained.chain, path)


def _check_expectations(
    rule: Rule, expect: Expect | None, match: Match, chain: Chain, path: Path
) -> FixtureResult:
    """A good fixture that matches first: does it also show the expected evidence and chain?"""
    primary = match.primary
    links = tuple(link.rule.id for link in chain.links)
    problem = _unmet(expect, primary, chain) if expect is not None else None
    if problem is not None:
        return FixtureResult(rule.id, "good", path, False, problem)
    where = f"evidence {primary.insert_id} ({primary.join_key})" if primary else "client side only"
    deeper = f", chain {' -> '.join(links)}" if links else ""
    return FixtureResult(rule.id, "good", path, True, f"matches: {where}{deeper}")


def _unmet(expect: Expect, primary: Evidence | None, chain: Chain) -> str | None:
    """The first expectation the match does not meet, in words; None when all are met."""
    seen = primary.insert_id if primary is not None else None
    if expect.evidence is not None and seen != expect.evidence:
        return f"first evidence is {seen}, expected {expect.evidence}"
    links = tuple(link.rule.id for link in chain.links)
    if expect.chain is not None and links != expect.chain:
        return f"chain confirms [{', '.join(links)}], expected [{', '.join(expect.chain)}]"
    firsts = tuple(link.primary.insert_id for link in chain.links)
    if expect.chain_evidence is not None and firsts != expect.chain_evidence:
        return f"chain cites [{', '.join(firsts)}], expected [{', '.join(expect.chain_evidence)}]"
    return None


def run_rule_tests(library: list[Rule]) -> list[FixtureResult]:
    """Every rule's fixtures, in library order; a rule without good or bad ones fails.

    Raises RuleErrors with every fixture file that cannot be read.
    """
    results: list[FixtureResult] = []
    problems: list[RuleError] = []
    for rule in library:
        files = fixture_files(rule)
        for kind in KINDS:
            if not files[kind]:
                where = fixture_dir(rule)
                results.append(
                    FixtureResult(rule.id, kind, None, False, f"no {kind}*.yaml in {where}")
                )
            for path in files[kind]:
                try:
                    results.append(run_fixture(rule, library, load_fixture(path), path, kind))
                except RuleErrors as exc:
                    problems.extend(exc.errors)
    if problems:
        raise RuleErrors(problems)
    return results
