"""The HTML report: one self-contained file (no network), autoescaped, with each cause's
timeline drawn as an SVG of client and server events on one time axis, and the deploys beside
it (report.timeline): on the axis when inside its span, else at its start or end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import jinja2

from fivewhys.model import Cause, Report
from fivewhys.report import text
from fivewhys.report.environment import render_report, template_environment
from fivewhys.report.timeline import deploy_marks, timeline_rows

#: SVG geometry: the axis runs from LEFT to WIDTH - RIGHT
WIDTH, LEFT, RIGHT = 880, 90, 30
LANE_Y = {"client": 40, "server": 90, "deploy": 122}
HEIGHT = 145
#: labels closer than this on one lane would overlap: the later one is left to its tooltip
LABEL_GAP = 60.0


@dataclass(frozen=True)
class Mark:
    """One event placed on a cause's timeline picture."""

    x: float
    y: int
    side: str
    label: str
    title: str


@dataclass(frozen=True)
class DeployGlyph:
    """A deploy on a cause's timeline picture: a diamond on the axis (and a line across the
    lanes) inside its span, an arrow at the axis's start or end outside it."""

    x: float
    inside: bool
    points: str
    anchor: str
    label_x: float
    label: str
    title: str


def _axis(cause: Cause) -> tuple[datetime, float]:
    """The timeline's first instant and its span in seconds (never zero)."""
    first, last = cause.timeline[0].at, cause.timeline[-1].at
    return first, max((last - first).total_seconds(), 1e-3)


def _x(at: datetime, first: datetime, span: float) -> float:
    return round(LEFT + (WIDTH - LEFT - RIGHT) * (at - first).total_seconds() / span, 1)


def timeline_marks(cause: Cause) -> list[Mark]:
    """Events of a cause laid out on one time axis; equal times share an x."""
    if not cause.timeline:
        return []
    first, span = _axis(cause)
    marks = []
    last_label_x: dict[str, float] = {}
    for event in cause.timeline:
        offset = (event.at - first).total_seconds()
        x = _x(event.at, first, span)
        crowded = x - last_label_x.get(event.side, -LABEL_GAP) < LABEL_GAP
        if not crowded:
            last_label_x[event.side] = x
        marks.append(
            Mark(
                x=x,
                y=LANE_Y[event.side],
                side=event.side,
                label="" if crowded else f"+{offset:.3f} s",
                title=f"{text.utc(event.at)} {event.side}: {event.text}",
            )
        )
    return marks


def deploy_glyphs(report: Report, cause: Cause) -> list[DeployGlyph]:
    """The deploys beside a cause's timeline, placed: only the one nearest the span on each
    side is labelled there (the others keep their tooltip and the list under the picture)."""
    marks = deploy_marks(report, cause)
    if not marks:
        return []
    first, span = _axis(cause)
    y = LANE_Y["deploy"]
    end = WIDTH - RIGHT
    nearest_before = max((m.at for m in marks if m.place == "before"), default=None)
    nearest_after = min((m.at for m in marks if m.place == "after"), default=None)
    glyphs = []
    last_label_x = -LABEL_GAP
    for mark in marks:
        title = mark.sentence()
        if mark.place == "before":
            label = f"deployed {mark.distance} before" if mark.at == nearest_before else ""
            points = f"{LEFT},{y} {LEFT + 8},{y - 6} {LEFT + 8},{y + 6}"
            glyphs.append(DeployGlyph(LEFT, False, points, "start", LEFT + 12, label, title))
        elif mark.place == "after":
            label = f"deployed {mark.distance} after" if mark.at == nearest_after else ""
            points = f"{end},{y} {end - 8},{y - 6} {end - 8},{y + 6}"
            glyphs.append(DeployGlyph(end, False, points, "end", end - 12, label, title))
        else:
            x = _x(mark.at, first, span)
            crowded = x - last_label_x < LABEL_GAP
            if not crowded:
                last_label_x = x
            offset = (mark.at - first).total_seconds()
            label = "" if crowded else f"deploy +{offset:.3f} s"
            points = f"{x},{y - 7} {x + 6},{y} {x},{y + 7} {x - 6},{y}"
            glyphs.append(DeployGlyph(x, True, points, "middle", x, label, title))
    return glyphs


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Built once; autoescaping on, since log text is untrusted (every printed value is
    escaped: the one escaping of this format), and links only to http(s) URLs."""
    env = template_environment(
        autoescape=True,
        filters={"utc": text.utc, "offset": text.offset, "web_url": text.web_url},
    )
    env.globals.update(
        timeline_marks=timeline_marks,
        deploy_glyphs=deploy_glyphs,
        deploy_marks=deploy_marks,
        timeline_rows=timeline_rows,
        WIDTH=WIDTH,
        HEIGHT=HEIGHT,
        LEFT=LEFT,
        LANE_Y=LANE_Y,
    )
    return env


def render_html(report: Report) -> str:
    """The report as a single HTML page."""
    return render_report(environment(), "report.html.j2", report)
