"""Did each test reach the server at all? For every test, passed ones too: a request log whose
interval overlaps the test's window, or (for a failure) a line joined to it by one of its ids.

Only a test whose window the logs cover (entries before its start and after its end) is
judged: logs that do not reach a test say nothing of it. A test that passed with no request in
its window is listed (a mock or a skip posing as a pass); a run none of whose judged tests
reached the server is said first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl

from fivewhys.logs.frame import UTC_US
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
    requests = frame.filter(pl.col("kind") == "request")
    failed = {(f.test_id, f.attempt): f for f in failures}
    keyed_ids = {
        (f.test_id, f.attempt): any(e.join_key != "time" for e in mine)
        for f, mine in zip(failures, lines, strict=True)
    }
    skew = timedelta(seconds=skew_s)
    services = _services(requests) or _services(frame)
    spans = sorted(intervals, key=lambda i: (i.start, i.test_id, i.attempt))
    requested = _requested(requests, spans, skew)
    contacts = []
    for span, by_request in zip(spans, requested, strict=True):
        failure = failed.get((span.test_id, span.attempt))
        covered = first <= span.start and last >= span.end
        keyed = failure is not None and keyed_ids[(span.test_id, span.attempt)]
        contacts.append(
            TestContact(
                test_id=span.test_id,
                attempt=span.attempt,
                passed=failure is None,
                duration_s=round((span.end - span.start).total_seconds(), 3),
                covered=covered,
                reached=(keyed or by_request) if covered or keyed or by_request else None,
                by="ids" if keyed else "request" if by_request else None,
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


def _services(rows: pl.DataFrame) -> list[str]:
    """The services the rows name, sorted."""
    named = rows.get_column("service").unique().drop_nulls()
    return sorted(s for s in named.to_list() if s)


def _requested(requests: pl.DataFrame, spans: Sequence[RunInterval], skew: timedelta) -> list[bool]:
    """Per span, does a request log's interval meet it (widened by the skew)? A request started
    by the span's end that ends at or after its start: of the requests started by then, the
    latest end (a running maximum in start order, found by binary search)."""
    ordered = requests.select("timestamp", "end_time").sort("timestamp")
    reach = ordered.get_column("end_time").cum_max()
    ends = pl.Series([span.end + skew for span in spans], dtype=UTC_US)
    starts = pl.Series([span.start - skew for span in spans], dtype=UTC_US)
    at = ordered.get_column("timestamp").search_sorted(ends, side="right").cast(pl.Int64)
    latest = reach.gather((at - 1).clip(lower_bound=0)) if ordered.height else ends.clear(len(ends))
    return ((at > 0) & (latest >= starts)).fill_null(False).to_list()
