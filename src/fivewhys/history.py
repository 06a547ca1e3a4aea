"""Causes across runs: new, recurring since a first run, or back after being marked fixed.

A history directory keeps each analysed run's JSON report (`runs/`) and the causes marked
fixed (`fixed.json`). A cause is recognised across runs by its fingerprint: its rule and the
masked template of its main evidence line, which stay the same while ids and times change.
Each run also tells how many of a cause's failures were attempts of flaky tests (that passed on
a rerun): counted across runs, they tell an intermittent cause from a steady one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from fivewhys import json_input
from fivewhys.artifacts import write_text
from fivewhys.errors import InputError
from fivewhys.model import Cause, Regression, Report

Status = Literal["new", "recurring", "regression"]


@dataclass(frozen=True)
class CauseHistory:
    """What earlier runs say about one cause."""

    fingerprint: str
    status: Status
    #: the earliest earlier run that had this cause, and the revision it was seen in
    first_seen: datetime | None = None
    first_revision: str | None = None
    #: earlier runs that had it
    runs_seen: int = 0
    #: when it was marked fixed (status "regression")
    fixed_at: datetime | None = None
    #: its failures that were attempts of flaky tests, in the earlier runs and this one
    flaky: int = 0


def fingerprint(rule_id: str, template: str) -> str:
    """A short stable id for (rule, main evidence template)."""
    return hashlib.sha256(f"{rule_id}\n{template}".encode()).hexdigest()[:12]


def cause_fingerprint(cause: Cause) -> str:
    template = cause.evidence[0].template if cause.evidence else ""
    return fingerprint(cause.rule_id, template)


def run_time(report: Report) -> datetime | None:
    """When a run happened: its first failure's start; a green run's first test's start."""
    first = min((f.started_at for f in report.failures if f.started_at), default=None)
    return first or report.run_started_at


@dataclass(frozen=True)
class _Seen:
    run_at: datetime
    revision: str | None
    #: the cause's failures in that run that passed on a rerun
    flaky: int = 0


@dataclass(frozen=True)
class _Run:
    """What one kept run says: when, which tests passed, what served it, its causes."""

    name: str
    run_at: datetime
    #: tests that passed (schema 1.4 `tests_passed`; 1.3 passes in `contacts`; else none known)
    passed: frozenset[str]
    #: (revision, commit of its deploy) of each revision that served it
    served: tuple[tuple[str, str | None], ...]
    causes: tuple[tuple[str, _Seen], ...]


class _Unreadable(Exception):
    """A history file that is not what fivewhys writes: skipped with a warning."""


def _parse_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise _Unreadable(f"time {value!r} is not a string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Unreadable(f"time {value[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise _Unreadable(f"time {value[:40]!r} has no UTC offset")
    return moment


def _load(path: Path) -> Any:
    try:
        return json_input.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise _Unreadable(f"cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise _Unreadable(f"not JSON: {exc.msg} (line {exc.lineno})") from None


def _mapping(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Unreadable(f"{what} is not a JSON object")
    return value


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Unreadable(f"{what} is not a JSON list")
    return value


def _read_run(path: Path) -> _Run | None:
    """A kept run: when it happened, its passes, its revisions and each cause's fingerprint;
    None for a run placed nowhere in time."""
    data = _mapping(_load(path), "the file")
    failures = _list(data.get("failures", []), "failures")
    times = [_parse_time(_mapping(f, "a failure").get("started_at")) for f in failures]
    if times:
        run_at = min(times)
    elif data.get("run_started_at") is not None:  # a green run (schema 1.4)
        run_at = _parse_time(data["run_started_at"])
    else:
        return None
    flaky: dict[str, int] = {}
    for failure in failures:  # a report before schema 1.2 has no passed_on: none were flaky
        if isinstance(failure.get("cause_id"), str) and failure.get("passed_on") is not None:
            flaky[failure["cause_id"]] = flaky.get(failure["cause_id"], 0) + 1
    seen: list[tuple[str, _Seen]] = []
    for cause in _list(data.get("causes", []), "causes"):
        cause = _mapping(cause, "a cause")
        evidence = _list(cause.get("evidence") or [], "evidence")
        first = _mapping(evidence[0], "evidence") if evidence else {}
        rule_id, template = cause.get("rule_id"), first.get("template", "")
        revision = first.get("revision")
        if not isinstance(rule_id, str) or not isinstance(template, str):
            raise _Unreadable("a cause without a rule_id or template string")
        seen.append(
            (
                fingerprint(rule_id, template),
                _Seen(
                    run_at,
                    revision if isinstance(revision, str) else None,
                    flaky.get(cause["id"], 0) if isinstance(cause.get("id"), str) else 0,
                ),
            )
        )
    return _Run(path.name, run_at, _passed(data), _served(data), tuple(seen))


def _passed(data: dict[str, Any]) -> frozenset[str]:
    if isinstance(data.get("tests_passed"), list):
        return frozenset(t for t in data["tests_passed"] if isinstance(t, str))
    contacts = data.get("contacts")
    if isinstance(contacts, list):  # schema 1.3: every test attempt, passed ones marked
        return frozenset(
            c["test_id"]
            for c in contacts
            if isinstance(c, dict) and c.get("passed") is True and isinstance(c.get("test_id"), str)
        )
    return frozenset()


def _served(data: dict[str, Any]) -> tuple[tuple[str, str | None], ...]:
    revisions = data.get("revisions")
    served = revisions.get("served") if isinstance(revisions, dict) else None
    out: list[tuple[str, str | None]] = []
    for one in served if isinstance(served, list) else []:
        if isinstance(one, dict) and isinstance(one.get("revision"), str):
            deploy = one.get("deploy")
            commit = deploy.get("commit") if isinstance(deploy, dict) else None
            out.append((one["revision"], commit if isinstance(commit, str) else None))
    return tuple(out)


def _earlier_runs(directory: Path, before: datetime, problems: list[str]) -> Iterator[_Run]:
    runs = directory / "runs"
    if not runs.is_dir():
        return
    for path in sorted(runs.glob("*.json")):
        try:
            run = _read_run(path)
        except _Unreadable as exc:
            problems.append(f"{path}: history run skipped: {exc}")
            continue
        if run is not None and run.run_at < before:
            yield run


def _fixed(directory: Path, problems: list[str]) -> dict[str, datetime]:
    path = directory / "fixed.json"
    if not path.exists():
        return {}
    try:
        marks = _mapping(_load(path), "the file")
        return {
            fp: _parse_time(_mapping(mark, f"mark {fp!r}").get("fixed_at"))
            for fp, mark in marks.items()
        }
    except _Unreadable as exc:
        problems.append(f"{path}: fixed causes not read: {exc}")
        return {}


def classify(
    report: Report, directory: Path, problems: list[str] | None = None
) -> dict[str, CauseHistory]:
    """History per cause id of `report`, from the runs stored in `directory` before it.

    A damaged history file is left out, with a line naming it added to `problems`.
    """
    problems = [] if problems is None else problems
    now = run_time(report)
    if now is None:
        return {}
    seen: dict[str, list[_Seen]] = {}
    for run in _earlier_runs(directory, now, problems):
        for fp, sighting in run.causes:
            seen.setdefault(fp, []).append(sighting)
    fixed = _fixed(directory, problems)
    result: dict[str, CauseHistory] = {}
    for cause in report.causes:
        fp = cause_fingerprint(cause)
        earlier = sorted(seen.get(fp, []), key=lambda s: s.run_at)
        first = earlier[0] if earlier else None
        fixed_at = fixed.get(fp)
        status: Status
        if fixed_at is not None and fixed_at <= now:
            status = "regression"
        elif earlier:
            status = "recurring"
        else:
            status = "new"
        result[cause.id] = CauseHistory(
            fingerprint=fp,
            status=status,
            first_seen=first.run_at if first else None,
            first_revision=first.revision if first else None,
            runs_seen=len(earlier),
            fixed_at=fixed_at if status == "regression" else None,
            flaky=cause.flaky + sum(s.flaky for s in earlier),
        )
    return result


def regressions(
    report: Report, directory: Path, problems: list[str] | None = None
) -> dict[str, Regression]:
    """Per cause id of `report`: the last kept run before it in which all of the cause's tests
    passed (and the cause was absent), and the first run after that with the cause. A cause
    none of whose kept runs passed its tests has none."""
    problems = [] if problems is None else problems
    now = run_time(report)
    if now is None:
        return {}
    runs = sorted(_earlier_runs(directory, now, problems), key=lambda r: (r.run_at, r.name))
    deploys = {d.revision: d.commit for d in report.revisions.deploys if d.revision}
    found: dict[str, Regression] = {}
    for cause in report.causes:
        fp = cause_fingerprint(cause)
        tests = set(cause.failures)
        green_at = max(
            (
                n
                for n, run in enumerate(runs)
                if tests <= run.passed and all(f != fp for f, _ in run.causes)
            ),
            default=None,
        )
        if green_at is None:
            continue
        green = runs[green_at]
        failing = next(
            (
                (run, sighting)
                for run in runs[green_at + 1 :]
                for f, sighting in run.causes
                if f == fp
            ),
            None,
        )
        if failing is not None:
            run, sighting = failing
            failing_run, failing_at, revision = run.name, run.run_at, sighting.revision
            commit = dict(run.served).get(revision) if revision else None
        else:
            failing_run, failing_at = "this run", now
            revision = cause.revisions[0] if cause.revisions else None
            commit = deploys.get(revision) if revision else None
        commits = {c for _, c in green.served if c}
        found[cause.id] = Regression(
            green_run=green.name,
            green_at=green.run_at,
            green_revisions=tuple(r for r, _ in green.served),
            green_commit=commits.pop() if len(commits) == 1 else None,
            failing_run=failing_run,
            failing_at=failing_at,
            failing_revision=revision,
            failing_commit=commit,
        )
    return found


def record(report_json: str, report: Report, directory: Path) -> Path | None:
    """Keep this run's JSON report in the history (named by its run time; rewritten if rerun)."""
    when = run_time(report)
    if when is None:
        return None
    runs = directory / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    path = runs / f"{when.strftime('%Y%m%dT%H%M%S.%fZ')}.json"
    write_text(path, report_json)  # a new file: never through a link planted in the history
    return path


def mark_fixed(directory: Path, cause_fingerprint: str, fixed_at: datetime, note: str) -> None:
    """Say a cause is fixed from `fixed_at` on: if it comes back, it is a regression."""
    path = directory / "fixed.json"
    marks: dict[str, Any] = {}
    if path.exists():
        try:
            marks = _mapping(_load(path), "the file")
        except _Unreadable as exc:
            raise InputError(f"fixed causes not read: {exc}", path) from None
    marks[cause_fingerprint] = {"fixed_at": fixed_at.isoformat(), "note": note}
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(marks, indent=2, sort_keys=True) + "\n", encoding="utf-8")
