"""Causes across runs: new, recurring since a first run, or back after being marked fixed.

A history directory keeps each analysed run's JSON report (`runs/`) and the causes marked
fixed (`fixed.json`). A cause is recognised across runs by its fingerprint: its rule and the
masked template of its main evidence line, which stay the same while ids and times change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from fivewhys.artifacts import write_text
from fivewhys.model import Cause, Report

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


def fingerprint(rule_id: str, template: str) -> str:
    """A short stable id for (rule, main evidence template)."""
    return hashlib.sha256(f"{rule_id}\n{template}".encode()).hexdigest()[:12]


def cause_fingerprint(cause: Cause) -> str:
    template = cause.evidence[0].template if cause.evidence else ""
    return fingerprint(cause.rule_id, template)


def run_time(report: Report) -> datetime | None:
    """When a run happened: its first failure's start."""
    return min((f.started_at for f in report.failures if f.started_at), default=None)


@dataclass(frozen=True)
class _Seen:
    run_at: datetime
    revision: str | None


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


#: what a hand-edited, truncated or foreign history file can raise while it is read
_BAD_HISTORY = (
    OSError,
    UnicodeDecodeError,
    json.JSONDecodeError,
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    RecursionError,
)


def _earlier_runs(
    directory: Path, before: datetime, warnings: list[str]
) -> Iterator[tuple[datetime, list[dict[str, Any]]]]:
    """(run time, causes) of each stored run before `before`; a file that cannot be read is
    skipped with a warning: one broken run must not cost the report its history."""
    runs = directory / "runs"
    if not runs.is_dir():
        return
    for path in sorted(runs.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            times = [_parse_time(f["started_at"]) for f in data["failures"] if f["started_at"]]
            causes = [dict(c) for c in data.get("causes", [])]
            if any(not isinstance(c.get("rule_id"), str) for c in causes):
                raise ValueError("a cause without a rule_id")
        except _BAD_HISTORY as exc:
            warnings.append(f"{path}: history run skipped: {_reason(exc)}")
            continue
        if times and min(times) < before:
            yield min(times), causes


def _reason(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:200]


def _fixed(directory: Path, warnings: list[str]) -> dict[str, datetime]:
    path = directory / "fixed.json"
    if not path.exists():
        return {}
    try:
        marks = json.loads(path.read_text(encoding="utf-8"))
        fixed = {str(fp): _parse_time(mark["fixed_at"]) for fp, mark in marks.items()}
        if any(moment.tzinfo is None for moment in fixed.values()):
            raise ValueError("a fixed_at without a time zone")
        return fixed
    except _BAD_HISTORY as exc:
        warnings.append(f"{path}: fixed causes not read: {_reason(exc)}")
        return {}


def classify(
    report: Report, directory: Path, warnings: list[str] | None = None
) -> dict[str, CauseHistory]:
    """History per cause id of `report`, from the runs stored in `directory` before it; files
    that cannot be read are skipped, each with a line in `warnings`."""
    warnings = [] if warnings is None else warnings
    now = run_time(report)
    if now is None:
        return {}
    seen: dict[str, list[_Seen]] = {}
    for run_at, causes in _earlier_runs(directory, now, warnings):
        for stored in causes:
            evidence = stored.get("evidence") or []
            head = evidence[0] if evidence and isinstance(evidence[0], dict) else {}
            template = str(head.get("template", ""))
            revision = head.get("revision")
            fp = fingerprint(stored["rule_id"], template)
            seen.setdefault(fp, []).append(
                _Seen(run_at, revision if isinstance(revision, str) else None)
            )
    fixed = _fixed(directory, warnings)
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
        )
    return result


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
    if path.is_file():
        marks = json.loads(path.read_text(encoding="utf-8"))
    marks[cause_fingerprint] = {"fixed_at": fixed_at.isoformat(), "note": note}
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(marks, indent=2, sort_keys=True) + "\n", encoding="utf-8")
