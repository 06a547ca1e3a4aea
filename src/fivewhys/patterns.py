"""Patterns across a cause's failures, stated as facts with their counts (issue 13 part 4).

Each is computed from the records, and claimed only when the counts show it, with a contrast
that makes it mean something:
- one revision / one instance: every failure's evidence came from it, while the run was served
  by more than one;
- concurrency: every failure ran while another test ran (the client held two or more
  connections at once, by the tests' own windows), while some tests of the run ran alone;
- cold start: every failure's evidence is among the first requests an instance served after
  Cloud Run's start line for it (`Starting new instance. Reason: ...` in `varlog/system`);
- after a deploy: every failure began after a deploy at T, and tests ran before T without it.
A cause needs `MIN_FAILURES` failures for any of them: one failure is no pattern.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

import polars as pl

from fivewhys.model import (
    Cause,
    Evidence,
    FailureReport,
    Pattern,
    RunInterval,
    RunRevisions,
    Why,
)
from fivewhys.report.text import utc

#: failures a cause needs before a pattern across them is claimed
MIN_FAILURES = 2
#: an instance's first requests after its start line (the cold start's)
FIRST_REQUESTS = 3
#: Cloud Run's own start line (varlog/system), e.g. `Starting new instance. Reason: AUTOSCALING -
#: Instance started due to configured scaling factors ...`, `... Reason: DEPLOYMENT_ROLLOUT - ...`
STARTED = re.compile(r"^Starting new instance\. Reason: (?P<reason>[A-Z_]+)")


def with_patterns(
    causes: Sequence[Cause],
    failures: Sequence[FailureReport],
    lines: Sequence[Sequence[Evidence]],
    intervals: Sequence[RunInterval],
    frame: pl.DataFrame,
    revisions: RunRevisions,
) -> list[Cause]:
    """Each cause with the patterns its failures show, and an evidence why for each (`lines`:
    each failure's best lines, whole: whys.failure_lines)."""
    starts = _starts(frame)
    out = []
    for cause in causes:
        pairs = [
            (f, _line(best))
            for f, best in zip(failures, lines, strict=True)
            if f.cause_id == cause.id and f.started_at is not None
        ]
        if len(pairs) < MIN_FAILURES:
            out.append(cause)
            continue
        mine = [f for f, _ in pairs]
        named = [line for _, line in pairs]
        found = [
            *_one_source(mine, named, frame, revisions),
            *_concurrent(mine, intervals),
            *_cold(named, starts, frame),
            *_after_deploy(cause, mine, intervals, revisions),
        ]
        if not found:
            out.append(cause)
            continue
        whys = [
            Why(text=p.text, kind="evidence", step="pattern", evidence=p.evidence) for p in found
        ]
        out.append(
            cause.model_copy(update={"patterns": tuple(found), "whys": (*cause.whys, *whys)})
        )
    return out


def _line(lines: Sequence[Evidence]) -> Evidence | None:
    """A failure's best evidence line that names its instance."""
    return next((e for e in lines if e.instance_id), None)


def _one_source(
    failures: Sequence[FailureReport],
    lines: Sequence[Evidence | None],
    frame: pl.DataFrame,
    revisions: RunRevisions,
) -> list[Pattern]:
    if any(line is None for line in lines):
        return []
    found = []
    kept = [line for line in lines if line is not None]
    served = [s.revision for s in revisions.served]
    revs = {line.revision for line in kept}
    if len(revs) == 1 and None not in revs and len(served) > 1:
        [revision] = revs
        found.append(
            Pattern(
                kind="one-revision",
                count=len(kept),
                of=len(failures),
                text=(
                    f"All {len(kept)} failures' evidence came from revision {revision}, one of "
                    f"the {len(served)} revisions that served the run (listed under Revisions)."
                ),
                evidence=tuple(line.insert_id for line in kept),
            )
        )
    instances = {line.instance_id for line in kept}
    run_instances = _instances(frame, failures)
    if len(instances) == 1 and len(run_instances) > 1:
        [instance] = instances
        found.append(
            Pattern(
                kind="one-instance",
                count=len(kept),
                of=len(failures),
                text=(
                    f"All {len(kept)} failures' evidence came from one instance "
                    f"(…{str(instance)[-8:]}), of the {len(run_instances)} instances that wrote "
                    "entries in their windows."
                ),
                evidence=tuple(line.insert_id for line in kept),
            )
        )
    return found


def _instances(frame: pl.DataFrame, failures: Sequence[FailureReport]) -> set[str]:
    start = min(f.started_at for f in failures if f.started_at)
    end = max(f.finished_at for f in failures if f.finished_at)
    rows = frame.filter(
        pl.col("instance_id").is_not_null()
        & (pl.col("timestamp") >= start)
        & (pl.col("timestamp") <= end)
    )
    return set(rows.get_column("instance_id").unique().to_list())


def _concurrent(
    failures: Sequence[FailureReport], intervals: Sequence[RunInterval]
) -> list[Pattern]:
    spans = {(i.test_id, i.attempt): i for i in intervals}
    mine = [spans.get((f.test_id, f.attempt)) for f in failures]
    if any(span is None for span in mine) or len(intervals) < 3:
        return []

    def overlapped(span: RunInterval) -> bool:
        return any(
            other is not span and other.start < span.end and span.start < other.end
            for other in intervals
        )

    if not all(overlapped(span) for span in mine if span is not None):
        return []
    alone = [i for i in intervals if not overlapped(i)]
    if not alone:
        return []  # every test of the run overlapped another: no contrast
    return [
        Pattern(
            kind="concurrent",
            count=len(failures),
            of=len(failures),
            text=(
                f"All {len(failures)} failures ran while another test ran at the same time (the "
                "client held two or more connections at once, by the tests' own windows); "
                f"{len(alone)} test(s) of the run ran alone, and none of them failed with it."
            ),
        )
    ]


def _starts(frame: pl.DataFrame) -> dict[str, list[tuple[datetime, str, str]]]:
    """Per instance: its start lines (time, insert id, reason), in time order."""
    rows = frame.filter(
        (pl.col("kind") == "system")
        & pl.col("instance_id").is_not_null()
        & pl.col("message").str.starts_with("Starting new instance.")
    ).sort("timestamp")
    starts: dict[str, list[tuple[datetime, str, str]]] = {}
    for row in rows.select("instance_id", "timestamp", "insert_id", "message").to_dicts():
        match = STARTED.match(row["message"])
        if match:
            starts.setdefault(row["instance_id"], []).append(
                (row["timestamp"], row["insert_id"], match["reason"])
            )
    return starts


def _cold(
    lines: Sequence[Evidence | None],
    starts: dict[str, list[tuple[datetime, str, str]]],
    frame: pl.DataFrame,
) -> list[Pattern]:
    """`lines`: per failure, its best line that names its instance (None: none does)."""
    cites: list[str] = []
    reasons: set[str] = set()
    for line in lines:
        if line is None or line.instance_id not in starts:
            return []
        before = [s for s in starts[line.instance_id] if s[0] <= line.timestamp]
        if not before:
            return []
        started, start_id, reason = before[-1]
        served = frame.filter(
            (pl.col("kind") == "request")
            & (pl.col("instance_id") == line.instance_id)
            & (pl.col("timestamp") >= started)
            & (pl.col("timestamp") < line.timestamp)
        ).height
        if served >= FIRST_REQUESTS:
            return []
        cites += [start_id, line.insert_id]
        reasons.add(reason)
    return [
        Pattern(
            kind="cold-start",
            count=len(lines),
            of=len(lines),
            text=(
                f"All {len(lines)} failures came on an instance's first requests: each one's "
                f"evidence is among the first {FIRST_REQUESTS} requests its instance served after "
                "Cloud Run's start line for it (Starting new instance, "
                f"{', '.join(sorted(reasons))})."
            ),
            evidence=tuple(dict.fromkeys(cites)),
        )
    ]


def _after_deploy(
    cause: Cause,
    failures: Sequence[FailureReport],
    intervals: Sequence[RunInterval],
    revisions: RunRevisions,
) -> list[Pattern]:
    first = min(f.started_at for f in failures if f.started_at)
    mine = set(cause.failures)
    for deploy in reversed(revisions.deploys):
        at = deploy.at()
        if at is None or at > first:
            continue
        before = [i for i in intervals if i.end <= at]
        if not before:
            return []  # nothing ran before it: "never before" is not shown
        same = sum(1 for i in before if i.test_id in mine)
        also = f", {same} of them its own test(s)" if same else ""
        return [
            Pattern(
                kind="after-deploy",
                count=len(failures),
                of=len(failures),
                text=(
                    f"All {len(failures)} failures began after {deploy.revision or 'a revision'} "
                    f"was deployed at {utc(at)}; the {len(before)} test(s) that ran before it did "
                    f"not fail with it{also}."
                ),
                evidence=deploy.insert_ids,
            )
        ]
    return []
