"""The deploys a cause's timeline shows, and where, for every format that draws one.

Shown: the deploy of each revision that wrote the cause's evidence, and every deploy during
the run. A deploy inside the span of the cause's events is an event of its timeline; one
before or after it (often hours or days before: it would squash the time axis to a point) is
placed at the axis's start or end with its distance written out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from fivewhys.model import Cause, Deploy, Report
from fivewhys.report.text import duration

Place = Literal["before", "inside", "after"]


@dataclass(frozen=True)
class DeployMark:
    """One deploy beside a cause's timeline."""

    deploy: Deploy
    at: datetime
    #: where it falls against the span of the cause's events
    place: Place
    #: the distance to the nearer end of that span (inside it: from its first event)
    distance: str
    #: why it is shown: it made a revision of the evidence, or it happened during the run
    reason: str

    def revision(self) -> str:
        return self.deploy.revision or "a revision not named"

    def sentence(self) -> str:
        """`deployed 3.0 days before: chat-backend-00042-xaz at ... by ... from commit ...`."""
        if self.place == "inside":
            where = f"deployed {self.distance} into these events"
        else:
            where = f"deployed {self.distance} {self.place} the {_end(self.place)} event"
        return f"{where}: {self.revision()} {self.deploy.describe()} ({self.reason})"


@dataclass(frozen=True)
class Row:
    """A row of a cause's timeline table: one of its events, or a deploy inside its span."""

    at: datetime
    side: str
    text: str
    test_id: str | None = None
    insert_id: str | None = None


def deploy_marks(report: Report, cause: Cause) -> list[DeployMark]:
    """The deploys a cause's timeline shows, in time order; none without events or deploys."""
    if not cause.timeline:
        return []
    first, last = cause.timeline[0].at, cause.timeline[-1].at
    chosen: dict[tuple[str, ...], tuple[Deploy, str]] = {}
    for revision in cause.revisions:
        made = [d for d in report.revisions.deploys if d.revision == revision]
        if made:
            chosen[_key(made[-1])] = (made[-1], "made the revision that wrote its evidence")
    started = report.run_started_at
    for deploy in report.revisions.deploys:
        at = deploy.at()
        if started is not None and at is not None and at >= started:
            chosen.setdefault(_key(deploy), (deploy, "during the run"))
    marks = []
    for deploy, reason in chosen.values():
        at = deploy.at()
        if at is None:
            continue
        place: Place = "before" if at < first else "after" if at > last else "inside"
        gap = first - at if place == "before" else at - last if place == "after" else at - first
        distance = _distance(gap)
        marks.append(DeployMark(deploy, at, place, distance, reason))
    return sorted(marks, key=lambda mark: (mark.at, mark.revision()))


def timeline_rows(report: Report, cause: Cause) -> list[Row]:
    """The cause's events with the deploys inside their span, in time order (an event before
    a deploy at the same instant)."""
    rows = [Row(e.at, e.side, e.text, e.test_id, e.insert_id) for e in cause.timeline] + [
        Row(
            mark.at,
            "deploy",
            f"{mark.revision()} deployed {mark.deploy.describe()} ({mark.reason})",
            insert_id=", ".join(mark.deploy.insert_ids) or None,
        )
        for mark in deploy_marks(report, cause)
        if mark.place == "inside"
    ]
    return sorted(rows, key=lambda row: (row.at, row.side == "deploy"))


def _distance(gap: timedelta) -> str:
    """Within two minutes in the timeline's own unit (`0.319 s`), else `duration`'s."""
    seconds = gap.total_seconds()
    return f"{seconds:.3f} s" if seconds < 120 else duration(gap)


def _key(deploy: Deploy) -> tuple[str, ...]:
    return (deploy.service, deploy.revision or "", *deploy.insert_ids)


def _end(place: Place) -> str:
    return "first" if place == "before" else "last"
