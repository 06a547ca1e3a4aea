"""Did each test reach the server at all? For every test, passed ones too: a request log whose
interval overlaps the test's window, or (for a failure) a line joined to it by one of its ids.

Only a test whose window the logs cover (entries before its start and after its end) is
judged: logs that do not reach a test say nothing of it. A test that passed with no request in
its window is listed (a mock or a skip posing as a pass); a run none of whose judged tests
reached the server is said first.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl

from fivewhys.model import Evidence, FailureReport, RunInterval, TestContact


def server_contact(
    intervals: Sequence[RunInterval],
    failures: Sequence[FailureReport],
    lines: Sequence[Sequence[Evidence]],
    frame: pl.DataFrame,
    skew_s: float,
) -> tuple[tuple[TestContact, ...], tuple[str, ...]]:
    """Per test attempt, whether it reached the server; and the headline, when none did.
    `lines`: each failure's best lines, whole (whys.failure_lines)."""
    if frame.is_empty() or not intervals:
        return (), ()
    first, last = frame.get_column("timestamp").min(), frame.get_column("end_time").max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    requests = frame.filter(pl.col("kind") == "request").sort("timestamp")
    starts = requests.get_column("timestamp").to_list()
    reach: list[datetime] = []  # the latest end of the requests up to each one
    for end in requests.get_column("end_time").to_list():
        reach.append(end if not reach or end > reach[-1] else reach[-1])
    failed = {(f.test_id, f.attempt): f for f in failures}
    keyed_ids = {
        (f.test_id, f.attempt): any(e.join_key != "time" for e in mine)
        for f, mine in zip(failures, lines, strict=True)
    }
    skew = timedelta(seconds=skew_s)
    services = sorted({s for s in requests.get_column("service").to_list() if s}) or sorted(
        {s for s in frame.get_column("service").to_list() if s}
    )
    contacts = []
    for span in sorted(intervals, key=lambda i: (i.start, i.test_id, i.attempt)):
        failure = failed.get((span.test_id, span.attempt))
        covered = first <= span.start and last >= span.end
        keyed = failure is not None and keyed_ids[(span.test_id, span.attempt)]
        at = bisect_right(starts, span.end + skew)
        requested = at > 0 and reach[at - 1] >= span.start - skew
        contacts.append(
            TestContact(
                test_id=span.test_id,
                attempt=span.attempt,
                passed=failure is None,
                duration_s=round((span.end - span.start).total_seconds(), 3),
                covered=covered,
                reached=(keyed or requested) if covered or keyed or requested else None,
                by="ids" if keyed else "request" if requested else None,
            )
        )
    judged = [c for c in contacts if c.reached is not None]
    headline: tuple[str, ...] = ()
    if judged and not any(c.reached for c in judged):
        where = ", ".join(services) or "the server"
        headline = (
            f"No test reached the server: none of the {len(judged)} tests the logs cover has a "
            f"request log of {where} in its window or a line with its ids.",
        )
    return tuple(contacts), headline
