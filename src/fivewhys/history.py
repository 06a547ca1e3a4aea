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

from fivewhys import json_input
from fivewhys.errors import InputError
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
    return min((f.started_at for f in report.failures), default=None)


@dataclass(frozen=True)
class _Seen:
    run_at: datetime
    revision: str | None


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _earlier_runs(directory: Path, before: datetime) -> Iterator[dict[str, Any]]:
    runs = directory / "runs"
    if not runs.is_dir():
        return
    for path in sorted(runs.glob("*.json")):
        try:
            data = json_input.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read history: {exc}", path) from None
        times = [_parse_time(f["started_at"]) for f in data.get("failures", [])]
        if times and min(times) < before:
            yield data


def _fixed(directory: Path) -> dict[str, datetime]:
    path = directory / "fixed.json"
    if not path.is_file():
        return {}
    try:
        marks = json_input.loads(path.read_text(encoding="utf-8"))
        return {fp: _parse_time(mark["fixed_at"]) for fp, mark in marks.items()}
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"cannot read fixed causes: {exc}", path) from None


def classify(report: Report, directory: Path) -> dict[str, CauseHistory]:
    """History per cause id of `report`, from the runs stored in `directory` before it."""
    now = run_time(report)
    if now is None:
        return {}
    seen: dict[str, list[_Seen]] = {}
    for data in _earlier_runs(directory, now):
        run_at = min(_parse_time(f["started_at"]) for f in data["failures"])
        for cause in data.get("causes", []):
            evidence = cause.get("evidence") or []
            template = evidence[0].get("template", "") if evidence else ""
            revision = evidence[0].get("revision") if evidence else None
            fp = fingerprint(cause["rule_id"], template)
            seen.setdefault(fp, []).append(_Seen(run_at, revision))
    fixed = _fixed(directory)
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
    path.write_text(report_json, encoding="utf-8")
    return path


def mark_fixed(directory: Path, cause_fingerprint: str, fixed_at: datetime, note: str) -> None:
    """Say a cause is fixed from `fixed_at` on: if it comes back, it is a regression."""
    path = directory / "fixed.json"
    marks: dict[str, Any] = {}
    if path.is_file():
        marks = json_input.loads(path.read_text(encoding="utf-8"))
    marks[cause_fingerprint] = {"fixed_at": fixed_at.isoformat(), "note": note}
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(marks, indent=2, sort_keys=True) + "\n", encoding="utf-8")
