"""The whys past the server line, from the platform's own records: the stack trace a cause's
evidence came with (its raising frame), then the revision that wrote the evidence and the
deploy that made it.

A trace belongs to a cause when it holds one of the cause's evidence lines, or else was written
on the same instance within `TRACE_NEAR_S` of one (a logger writes its message and its
traceback together, in the same millisecond; a busy instance writes other requests' traces a
few hundred milliseconds away, which must not be taken). The why says which of the two it is.
Each added why is evidence and cites the entries it rests on; where the records are missing
the why is an open question naming what would answer it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl

from fivewhys.model import Cause, Deploy, Evidence, Traceback, Why
from fivewhys.report.text import duration
from fivewhys.revisions import deploy_of, describe
from fivewhys.tracebacks import find_tracebacks

#: a trace at most this far (seconds) from an evidence line of its instance belongs to it
TRACE_NEAR_S = 0.05
#: traces kept per cause (the first one is the why's)
MAX_TRACES = 3
#: entries a why cites of one trace: the first ones and the last ones
MAX_TRACE_CITES = 5
#: revisions of one cause's evidence given a why each
MAX_REVISIONS = 3


def with_tracebacks(causes: Sequence[Cause], frame: pl.DataFrame) -> list[Cause]:
    """Each cause with the stack traces of its evidence and a why naming the raising frame."""
    traces = _traces_near(causes, frame)
    if not traces:
        return list(causes)
    return [_with_traces(cause, traces) for cause in causes]


def _traces_near(causes: Sequence[Cause], frame: pl.DataFrame) -> list[Traceback]:
    """The traces of the instances and seconds around the causes' evidence: only these rows
    are read line by line, not the whole frame."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    pad = timedelta(seconds=TRACE_NEAR_S + 1)
    for cause in causes:
        for line in cause.listed():
            if line.instance_id:
                start, end = line.timestamp - pad, line.timestamp + pad
                known = spans.get(line.instance_id)
                if known is not None:
                    start, end = min(start, known[0]), max(end, known[1])
                spans[line.instance_id] = (start, end)
    ids = {line.insert_id for cause in causes for line in cause.listed() if not line.instance_id}
    if not spans and not ids:
        return []
    cited = sorted({line.insert_id for cause in causes for line in cause.listed()})
    near = pl.col("insert_id").is_in(sorted(ids))
    for instance, (start, end) in spans.items():
        near = near | (
            (pl.col("instance_id") == instance) & pl.col("timestamp").is_between(start, end)
        )
    moments = [
        (line.instance_id, line.timestamp)
        for cause in causes
        for line in cause.listed()
        if line.instance_id
    ]
    return find_tracebacks(frame.filter(near), near=(cited, moments, TRACE_NEAR_S))


def _with_traces(cause: Cause, traces: Sequence[Traceback]) -> Cause:
    chosen = _traces_of(cause.listed(), traces)
    if not chosen:
        return cause
    why = _trace_why(chosen[0], len(chosen), cause.listed())
    whys = list(cause.whys)
    at = max((n for n, w in enumerate(whys) if w.kind == "evidence"), default=-1) + 1
    whys.insert(at, why)
    return cause.model_copy(update={"whys": tuple(whys), "tracebacks": tuple(chosen)})


def _traces_of(evidence: Sequence[Evidence], traces: Sequence[Traceback]) -> list[Traceback]:
    """The cause's traces, best first: those holding an evidence line, then the nearest in time
    on an evidence line's instance; one per distinct raising frame and exception."""
    cited = {line.insert_id for line in evidence}
    scored: list[tuple[int, float, Traceback]] = []  # (0 holds a line / 1 near one, gap, trace)
    for trace in traces:
        if cited.intersection(trace.insert_ids):
            scored.append((0, 0.0, trace))
            continue
        gaps = [
            abs((trace.timestamp - line.timestamp).total_seconds())
            for line in evidence
            if line.instance_id and line.instance_id == trace.instance_id
        ]
        if gaps and min(gaps) <= TRACE_NEAR_S:
            scored.append((1, min(gaps), trace))
    scored.sort(key=lambda s: (s[0], s[1], s[2].timestamp, s[2].insert_ids))
    kept: dict[tuple[str, str], Traceback] = {}
    for _, _, trace in scored:
        key = (trace.raised_at.where() if trace.raised_at else "", trace.exception)
        kept.setdefault(key, trace)
    return list(kept.values())[:MAX_TRACES]


def _trace_why(trace: Traceback, distinct: int, evidence: Sequence[Evidence]) -> Why:
    entries = len(trace.insert_ids)
    cited = [line for line in evidence if line.insert_id in trace.insert_ids]
    if cited:
        relation = f"the cited line {cited[0].insert_id} is part of it"
    else:
        line = min(
            (e for e in evidence if e.instance_id == trace.instance_id),
            key=lambda e: abs((trace.timestamp - e.timestamp).total_seconds()),
        )
        gap_ms = (trace.timestamp - line.timestamp).total_seconds() * 1000
        side = "after" if gap_ms >= 0 else "before"
        relation = f"written {abs(gap_ms):.1f} ms {side} {line.insert_id} on its instance"
    stitched = f"stitched from {entries} entries" if entries > 1 else "in one entry"
    where = [f"instance …{trace.instance_id[-8:]}" if trace.instance_id else ""]
    where.append(f"revision {trace.revision}" if trace.revision else "")
    place = ", ".join(part for part in where if part)
    more = f" {distinct - 1} other trace(s) near its evidence differ." if distinct > 1 else ""
    text = (
        f"The server's {trace.language.capitalize()} stack trace was {trace.sentence()} "
        f"({stitched}{', ' + place if place else ''}; {relation}).{more}"
    )
    return Why(text=text, kind="evidence", step="trace", evidence=_cites(trace.insert_ids))


def _cites(insert_ids: Sequence[str]) -> tuple[str, ...]:
    if len(insert_ids) <= MAX_TRACE_CITES:
        return tuple(insert_ids)
    return (*insert_ids[:2], *insert_ids[-(MAX_TRACE_CITES - 2) :])


def with_revisions(
    causes: Sequence[Cause],
    deploys: Sequence[Deploy],
    first_failure: dict[str, datetime],
    audit_reach: str | None,
) -> list[Cause]:
    """Each cause with the revisions that wrote its evidence and, per revision, a why: its
    deploy (when, by whom, from which commit) as evidence, or the open question of it."""
    out = []
    for cause in causes:
        counts: dict[str, list[Evidence]] = {}
        for line in cause.listed():
            if line.revision:
                counts.setdefault(line.revision, []).append(line)
        revisions = sorted(counts, key=lambda r: (-len(counts[r]), r))
        if not revisions:
            out.append(cause)
            continue
        whys = [
            _revision_why(r, counts[r], deploys, first_failure.get(cause.id), audit_reach)
            for r in revisions[:MAX_REVISIONS]
        ]
        merged = list(cause.whys)
        at = max((n for n, w in enumerate(merged) if w.kind == "evidence"), default=-1) + 1
        merged[at:at] = [w for w in whys if w.kind == "evidence"]
        merged.extend(w for w in whys if w.kind != "evidence")  # where the chain stops
        out.append(cause.model_copy(update={"whys": tuple(merged), "revisions": tuple(revisions)}))
    return out


def _revision_why(
    revision: str,
    lines: Sequence[Evidence],
    deploys: Sequence[Deploy],
    failed_at: datetime | None,
    audit_reach: str | None,
) -> Why:
    deploy = deploy_of(revision, deploys)
    if deploy is None:
        if audit_reach is None:
            return Why(
                kind="question",
                step="revision",
                text=(
                    f"Which deploy made revision {revision}, when, and from which commit? No "
                    "Cloud Run audit entry was read: add the service's "
                    "cloudaudit.googleapis.com activity and system_event entries to --logs "
                    "(readable with roles/logging.viewer)."
                ),
            )
        return Why(
            kind="question",
            step="revision",
            text=(
                f"When was revision {revision} deployed, and from which commit? The audit "
                f"entries read hold {len(deploys)} deploy(s), none of it: it is older than "
                f"{audit_reach}."
            ),
        )
    at = deploy.at()
    before = ""
    if at is not None and failed_at is not None:
        before = f", {duration(failed_at - at)} before the first failure"
    image = f"; image digest {deploy.digest[:19]}" if deploy.digest else ""
    previous = f"; it replaced {deploy.previous}" if deploy.previous else ""
    return Why(
        kind="evidence",
        step="revision",
        text=(
            f"Its evidence was written by revision {revision} ({len(lines)} line(s)), deployed "
            f"{describe(deploy)}{before}{image}{previous}."
        ),
        evidence=(lines[0].insert_id, *deploy.insert_ids),
    )
