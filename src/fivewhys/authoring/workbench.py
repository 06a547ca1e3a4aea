"""Failures and their candidate lines without a whole analysis: for rule fixtures and tools.

`rules test`, `rules explain` and `rules suggest` need what `analyze` computes before rules
are applied (failures, correlated candidates), and nothing after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from fivewhys.config import Settings, WindowSettings
from fivewhys.correlate import correlate
from fivewhys.logs.entry import LogBatch, build_frame, normalize_entries
from fivewhys.logs.files import read_log_files
from fivewhys.logs.frame import empty_logframe
from fivewhys.model import Failure, RunInterval
from fivewhys.results import read_results
from fivewhys.rules.loader import bundled_rules_dir, load_rules
from fivewhys.rules.matcher import Candidate
from fivewhys.rules.schema import Rule
from fivewhys.whys import candidates_by_failure


@dataclass(frozen=True)
class Bench:
    """Failures, each with its candidate lines (best first), and the clock slack to allow."""

    failures: list[Failure]
    candidates: list[tuple[Candidate, ...]]
    slack_s: float


def bench_from_frame(
    failures: list[Failure],
    frame: pl.DataFrame,
    window: WindowSettings,
    intervals: Sequence[RunInterval] = (),
) -> Bench:
    """Correlate failures with a LogFrame, as `analyze` does."""
    correlation = correlate(failures, frame, window, intervals=intervals)
    return Bench(
        failures=failures,
        candidates=candidates_by_failure(correlation, len(failures), None),
        slack_s=window.skew_s,
    )


def frame_from_entries(entries: Iterable[tuple[str, Any]]) -> tuple[pl.DataFrame, LogBatch]:
    """A LogFrame from `(source, LogEntry dict)` pairs, and the batch that counted skips."""
    batch = normalize_entries(entries)
    frame, _duplicates = build_frame([batch])
    return frame, batch


def bench_from_files(results: Sequence[Path], logs: Sequence[str], settings: Settings) -> Bench:
    """Results and log files read as `analyze` reads them."""
    patterns = settings.id_patterns()
    read = read_results(results, patterns=patterns)
    frame = read_log_files(logs, id_patterns=patterns).frame if logs else empty_logframe()
    return bench_from_frame(read.failures, frame, settings.window, read.intervals)


def library(rule_dirs: Sequence[Path], settings: Settings) -> list[Rule]:
    """The rules `analyze` would use: bundled, then `[tool.fivewhys] rules`, then `--rules`."""
    configured = [Path(p) for p in settings.rules]
    return load_rules([bundled_rules_dir(), *configured, *rule_dirs], collect_errors=False)
