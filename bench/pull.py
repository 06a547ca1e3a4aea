"""Requests and entries moved by a narrow live pull versus a full one, on a busy window.

    python -m bench.pull            # the example run, 300,000 busy entries in its window
    python -m bench.pull --small    # 3,000: a quick check that it runs

The fake Cloud Logging endpoint of the test suite (the real client, a loopback server) serves
the bundled example's entries, a few hundred candidate lines without ids (platform and stderr
lines any failure may join by time) and a crowd of other users' entries, a third of them WARNING
or ERROR (tests/fake_logging.py `busy_entries`). The model to meet: requests within 1.5x of
ceil(candidates / 1000) plus one per window and query sent.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO / "tests"))  # the fake endpoint lives with the tests

from fake_logging import FakeClock, FakeLogging, busy_entries, read_ndjson, serve, zulu  # noqa: E402

from fivewhys.config import LoggingSettings  # noqa: E402
from fivewhys.logs.live import LiveSource  # noqa: E402
from fivewhys.pipeline import Analysis, analyze  # noqa: E402

RESULTS = REPO / "examples" / "results" / "report-log.jsonl"
SINK = REPO / "examples" / "logs" / "sink.ndjson"
#: the example run's failure window, which the busy entries fill
START = datetime(2026, 11, 21, 23, 35, 35, tzinfo=UTC)
SPAN_S = 46.0
CANDIDATES = 400


def candidate_lines(count: int) -> list[dict[str, Any]]:
    """Lines without ids that any failure may join by time: Cloud Run's system log (its own
    wording, as in examples/logs/sink.ndjson) and stderr lines of the app."""
    lines = []
    for n in range(count):
        moment = START + timedelta(seconds=SPAN_S * (n + 0.5) / count)
        system = n % 2 == 0
        log = "varlog%2Fsystem" if system else "stderr"
        lines.append(
            {
                "insertId": f"candidate-{n:05d}",
                "logName": f"projects/fivewhys-example/logs/run.googleapis.com%2F{log}",
                "receiveTimestamp": zulu(moment + timedelta(seconds=1)),
                "resource": {
                    "type": "cloud_run_revision",
                    "labels": {
                        "project_id": "fivewhys-example",
                        "service_name": "chat-backend",
                        "revision_name": "chat-backend-00042-xaz",
                        "location": "us-central1",
                        "configuration_name": "chat-backend",
                    },
                },
                "severity": "INFO" if system else "ERROR",
                "textPayload": "Starting new instance. Reason: AUTOSCALING - Instance started "
                "due to traffic."
                if system
                else "redis.exceptions.ConnectionError: Error 111 connecting to redis:6379.",
                "timestamp": zulu(moment),
            }
        )
    return lines


def _source(fake: FakeLogging, pull: str) -> LiveSource:
    return LiveSource(
        project="fivewhys-example",
        services=("chat-backend",),
        endpoint=fake.url,
        # the fake evaluates each filter in Python over every entry of its range: at 300,000
        # a narrow query takes longer than the default 30 s timeout, which would add retries
        settings=LoggingSettings(
            settle_s=0, requests_per_s=1000, backoff_s=0.001, timeout_s=900, retries=0
        ),
        clock=FakeClock(datetime(2030, 1, 1, tzinfo=UTC)),
        rng=random.Random(1),
        pull="narrow" if pull == "narrow" else "all",
    )


def measure(busy: int, candidates: int = CANDIDATES) -> dict[str, dict[str, Any]]:
    """Per pull ("narrow", "all"): requests, distinct queries, entries moved, seconds, and
    the failures' outcomes."""
    own = read_ndjson(SINK) + candidate_lines(candidates)
    fake = FakeLogging(own + busy_entries(busy, START, SPAN_S))
    out: dict[str, dict[str, Any]] = {}
    for running in serve(fake):
        for pull in ("narrow", "all"):
            before = len(running.requests)
            started = time.perf_counter()
            report = analyze(Analysis(results=[RESULTS], live=_source(running, pull)))
            sent = running.requests[before:]
            out[pull] = {
                "requests": len(sent),
                "queries": len({r.filter for r in sent}),
                "windows": len(report.query.windows),
                "entries": report.log_entries,
                "seconds": time.perf_counter() - started,
                "outcomes": [(f.test_id, f.bucket, f.rule_id) for f in report.failures],
            }
    out["candidates"] = {"lines": len(own)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="3,000 busy entries, not 300,000")
    args = parser.parse_args(argv)
    busy = 3_000 if args.small else 300_000
    result = measure(busy)
    narrow, full = result["narrow"], result["all"]
    candidates = result["candidates"]["lines"]
    model = math.ceil(candidates / 1000) + narrow["windows"] * narrow["queries"]
    total = busy + candidates
    print(f"window: {total:,} entries, {candidates} candidates (the example's and id-less lines)")
    for name, row in (("narrow", narrow), ("full", full)):
        print(
            f"{name:>6}: {row['requests']:>4} requests, {row['queries']} queries, "
            f"{row['entries']:>7,} entries moved, {row['seconds']:.1f} s"
        )
    print(
        f"model: ceil({candidates}/1000) + {narrow['windows']} window x {narrow['queries']} "
        f"queries = {model}; narrow sent {narrow['requests']} "
        f"({narrow['requests'] / model:.2f}x, target <= 1.5x)"
    )
    same = narrow["outcomes"] == full["outcomes"]
    print(f"same failures explained by the same rules: {'yes' if same else 'NO'}")
    return 0 if same and narrow["requests"] <= 1.5 * model else 1


if __name__ == "__main__":
    raise SystemExit(main())
