"""The Cloud Logging filter for a set of failure windows, and how a user reruns it.

Every clause is parenthesized: the filter language binds NOT, then OR, then AND, so an
unparenthesized `a OR b AND c` does not mean what it reads like.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import quote

from fivewhys.model import Window

#: windows closer than this are read as one range: one query instead of two
COALESCE_GAP = timedelta(seconds=60)


def coalesce(windows: Sequence[Window], gap: timedelta = COALESCE_GAP) -> list[Window]:
    """Overlapping or near windows merged, in time order."""
    merged: list[Window] = []
    for window in sorted(windows, key=lambda w: (w.start, w.end)):
        if merged and window.start - merged[-1].end <= gap:
            last = merged[-1]
            merged[-1] = Window(start=last.start, end=max(last.end, window.end))
        else:
            merged.append(window)
    return merged


def rfc3339(moment: datetime) -> str:
    """UTC with microseconds and a `Z`, as Cloud Logging filters compare timestamps."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_filter(
    windows: Sequence[Window], services: Sequence[str], severity: str | None = None
) -> str:
    """`resource.type` AND services AND (window OR window ...), each clause in parentheses."""
    clauses = ['(resource.type="cloud_run_revision")']
    if services:
        clauses.append(
            "("
            + " OR ".join(f"(resource.labels.service_name={_quote(s)})" for s in sorted(services))
            + ")"
        )
    if severity:
        clauses.append(f"(severity>={severity.upper()})")
    if windows:
        ranges = [
            f'(timestamp>="{rfc3339(w.start)}" AND timestamp<="{rfc3339(w.end)}")'
            for w in coalesce(windows)
        ]
        clauses.append("(" + " OR ".join(ranges) + ")")
    return "\nAND ".join(clauses)


def gcloud_command(log_filter: str, project: str | None) -> str:
    """The `gcloud logging read` command that reads the same entries, oldest first."""
    parts = ["gcloud", "logging", "read", log_filter]
    if project:
        parts.append(f"--project={project}")
    parts += ["--format=json", "--order=asc"]
    return " ".join(shlex.quote(p) for p in parts)


def explorer_link(project: str | None, insert_id: str, moment: datetime) -> str | None:
    """A Logs Explorer URL that opens this one entry (None when the project is unknown)."""
    if not project:
        return None
    query = quote(f'insertId="{insert_id}"', safe="")
    return (
        f"https://console.cloud.google.com/logs/query;query={query}"
        f";cursorTimestamp={rfc3339(moment)}?project={quote(project, safe='')}"
    )
