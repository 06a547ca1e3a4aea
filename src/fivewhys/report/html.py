"""The HTML report: one self-contained file (no network), autoescaped, with each cause's
timeline drawn as an SVG of client and server events on one time axis."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import jinja2

from fivewhys.model import Cause, Report
from fivewhys.report import text
from fivewhys.report.environment import render_report, template_environment

#: SVG geometry: the axis runs from LEFT to WIDTH - RIGHT
WIDTH, LEFT, RIGHT = 880, 90, 30
LANE_Y = {"client": 40, "server": 90}
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


def timeline_marks(cause: Cause) -> list[Mark]:
    """Events of a cause laid out on one time axis; equal times share an x."""
    events = cause.timeline
    if not events:
        return []
    first, last = events[0].at, events[-1].at
    span = max((last - first).total_seconds(), 1e-3)
    usable = WIDTH - LEFT - RIGHT
    marks = []
    last_label_x: dict[str, float] = {}
    for event in events:
        offset = (event.at - first).total_seconds()
        x = round(LEFT + usable * offset / span, 1)
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


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Built once; autoescaping on, since log text is untrusted (every printed value is
    escaped: the one escaping of this format), and links only to http(s) URLs."""
    env = template_environment(
        autoescape=True,
        filters={"utc": text.utc, "offset": text.offset, "web_url": text.web_url},
    )
    env.globals.update(timeline_marks=timeline_marks, WIDTH=WIDTH, LEFT=LEFT, LANE_Y=LANE_Y)
    return env


def render_html(report: Report) -> str:
    """The report as a single HTML page."""
    return render_report(environment(), "report.html.j2", report)
