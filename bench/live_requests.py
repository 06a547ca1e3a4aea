"""Requests, retries and time of live pulls against the fake Cloud Logging endpoint.

    python -m bench.live_requests

The model: one query per coalesced failure window, one request per page of 1000 entries, so
requests = Σ over windows of max(1, ceil(entries / 1000)), plus one probe per poll while waiting
for ingestion (none for windows older than --settle), plus one per retry. At the default rate of
one request per second a pull takes at least (requests - 1) seconds of waiting.
"""

from __future__ import annotations

import math
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO / "tests"))  # the fake endpoint lives with the tests

from fake_logging import FakeLogging, bulk_entries, read_ndjson, serve  # noqa: E402

from fivewhys.config import LoggingSettings  # noqa: E402
from fivewhys.logs.live import LivePull, LiveSource, pull_logs  # noqa: E402
from fivewhys.model import Window  # noqa: E402
from fivewhys.pipeline import Analysis, analyze  # noqa: E402

RESULTS = REPO / "examples" / "results" / "report-log.jsonl"
SINK = REPO / "examples" / "logs" / "sink.ndjson"
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
#: fast enough that the rate limit and backoff do not dominate what is measured
MEASURE = {"requests_per_s": 1000.0, "backoff_s": 0.01, "backoff_max_s": 0.05, "settle_s": 0.0}


def _source(fake: FakeLogging, **settings: float) -> LiveSource:
    return LiveSource(
        project="fivewhys-example",
        services=("chat-backend",),
        endpoint=fake.url,
        settings=LoggingSettings(**{**MEASURE, **settings}),
        rng=random.Random(1),
    )


def example() -> None:
    fake = FakeLogging(read_ndjson(SINK))
    for running in serve(fake):
        report = analyze(Analysis(results=[RESULTS], live=_source(running)))
        windows = report.query.pulls[0].windows
        model = sum(max(1, math.ceil(w.entries / 1000)) for w in windows)
        print(
            f"bundled example: {len(report.failures)} failures -> {len(windows)} coalesced "
            f"window(s) x {[w.pages for w in windows]} page(s) = {model} request(s) by the "
            f"model; sent {len(running.requests)}; {report.log_entries} entries"
        )


def _pull(fake: FakeLogging, count: int, **settings: float) -> tuple[LivePull, float]:
    window = Window(start=T0, end=datetime.fromtimestamp(T0.timestamp() + count * 0.003, UTC))
    started = time.perf_counter()
    pulled = pull_logs(_source(fake, **settings), [window])
    return pulled, time.perf_counter() - started


def bulk(count: int) -> None:
    fake = FakeLogging(bulk_entries(count, T0, step_ms=3.0))
    for running in serve(fake):
        best = math.inf
        for _ in range(3):
            running.requests.clear()
            pulled, seconds = _pull(running, count)
            best = min(best, seconds)
        pages = math.ceil(count / 1000)
        print(
            f"{count:>7} entries, 1 window: {pulled.stats.requests} requests ({pages} by the model)"
            f", {best:.2f} s = {best / count * 10_000:.2f} s per 10k entries (best of 3); "
            f"at 1 request/s add {pages - 1} s of waiting"
        )


def retries(count: int) -> None:
    fake = FakeLogging(bulk_entries(count, T0, step_ms=3.0))
    fake.faults = ["429", "ok", "500", "ok", "drop", "ok", "429"]
    for running in serve(fake):
        pulled, seconds = _pull(running, count)
        [record] = pulled.logs.pulls[0].windows
        print(
            f"{count:>7} entries with 4 faults (429, 500, dropped connection, 429): "
            f"{pulled.stats.retries} retries, {pulled.stats.requests} requests, "
            f"{record.entries} entries ({record.status}), {seconds:.2f} s"
        )


def main() -> None:
    example()
    for count in (10_000, 50_000):
        bulk(count)
    retries(10_000)


if __name__ == "__main__":
    main()
