"""Narrow pulls (the default) against the fake endpoint: the same report as `--pull all` on
every scenario of the suite, at a fraction of the requests on a busy window."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from fake_logging import FakeClock, FakeLogging, fake_logging, read_ndjson

from fivewhys.config import LoggingSettings
from fivewhys.logs.live import LiveSource
from fivewhys.pipeline import Analysis, OutputFormat, analyze, render

__all__ = ["fake_logging"]

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SCENARIOS = EXAMPLES / "scenarios"
#: (results, logs served by the fake, project rules, service)
CASES = {
    "example": (EXAMPLES / "results/report-log.jsonl", EXAMPLES / "logs/sink.ndjson", None),
    "example-junit": (EXAMPLES / "results/junit.xml", EXAMPLES / "logs/sink.ndjson", None),
    "all-modes": (
        SCENARIOS / "all-modes/results/report-log.jsonl",
        SCENARIOS / "all-modes/logs/sink.ndjson",
        SCENARIOS / "all-modes/rules",
    ),
    "all-modes-junit": (
        SCENARIOS / "all-modes/results/junit.xml",
        SCENARIOS / "all-modes/logs/sink.ndjson",
        SCENARIOS / "all-modes/rules",
    ),
    "node-chat": (
        SCENARIOS / "node-chat/results/report-log.jsonl",
        SCENARIOS / "node-chat/logs/sink.ndjson",
        None,
    ),
}


def source(
    fake: FakeLogging, services: tuple[str, ...], pull: Literal["narrow", "all"]
) -> LiveSource:
    return LiveSource(
        project="fivewhys-example",
        services=services,
        endpoint=fake.url,
        settings=LoggingSettings(settle_s=0, requests_per_s=1000, backoff_s=0.001),
        clock=FakeClock(datetime(2030, 1, 1, tzinfo=UTC)),
        rng=random.Random(1),
        pull=pull,
    )


def _services(entries: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(sorted({e["resource"]["labels"]["service_name"] for e in entries}))


def what_was_read(text: str) -> str:
    """The report less what says how much was read (a narrow pull reads less, by design)."""
    text = re.sub(r"\d+ log entries from", "N log entries from", text)
    text = re.sub(r'"log_entries": \d+', '"log_entries": N', text)
    text = re.sub(r'"entries": \d+', '"entries": N', text)
    text = re.sub(r'"pages": \d+', '"pages": N', text)
    # when it was read: the rate limit's waits move the fake clock by the requests made
    text = re.sub(r"2030-01-01[T ]00:00:00(\.\d+)?Z?", "PULLED_AT", text)
    # the window table's Entries column
    return re.sub(r"(\| \d+ \| [^|]+ \| [^|]+ \| )\d+ \|", r"\1N |", text)


@pytest.mark.parametrize("case", sorted(CASES))
def test_narrow_gives_the_full_pulls_report(fake_logging: FakeLogging, case: str) -> None:
    results, logs, rules = CASES[case]
    entries = read_ndjson(logs)
    fake_logging.load(entries)
    services = _services(entries)
    reports: dict[str, dict[str, str]] = {}
    requests: dict[str, int] = {}
    for pull in ("all", "narrow"):
        before = len(fake_logging.requests)
        report = analyze(
            Analysis(
                results=[results],
                rule_dirs=[rules] if rules else [],
                live=source(fake_logging, services, pull),
            )
        )
        requests[pull] = len(fake_logging.requests) - before
        reports[pull] = {f.value: render(report, f) for f in OutputFormat}
        assert report.failures
    for fmt in OutputFormat:
        assert what_was_read(reports["narrow"][fmt.value]) == what_was_read(
            reports["all"][fmt.value]
        )
    assert all(r.answer == "ok" for r in fake_logging.requests)
    assert json.loads(reports["all"]["json"])["causes"]  # the case explains something
    assert requests["narrow"] >= 1
