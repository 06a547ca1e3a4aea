"""Where one `fivewhys analyze` run spends its time, phase by phase (wall seconds).

    python -m bench.phases RESULTS LOGS

Runs what `bench.analyze` runs, once, with each step `pipeline.analyze` calls timed where the
pipeline calls it; the steps left untimed are shown as "the rest of analyze". One run on a
shared machine: read the shares, not the last digit.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

started = time.perf_counter()

from fivewhys import pipeline  # noqa: E402 (the imports are a phase)
from fivewhys.config import load_settings  # noqa: E402

IMPORTED = time.perf_counter() - started

#: pipeline's names for its steps -> what the table calls them
STEPS = {
    "read_results": "results (test reports)",
    "load_rules": "load the rules",
    "_read_logs": "read the logs",
    "time_caps": "time-only caps per failure",
    "correlate": "correlate",
    "explain_failures": "explain (match rules, chains)",
    "build_causes": "causes",
    "failure_reports": "failure reports",
    "clean_report": "clean the report (redact, escape)",
}


def timed(function: Callable[..., Any], seconds: dict[str, float], name: str) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.phases")
    parser.add_argument("results", type=Path)
    parser.add_argument("logs")
    args = parser.parse_args()
    seconds: dict[str, float] = {}
    for name in STEPS:
        setattr(pipeline, name, timed(getattr(pipeline, name), seconds, name))
    analysis = pipeline.Analysis(
        results=[args.results], logs=[args.logs], settings=load_settings(Path.cwd())
    )
    start = time.perf_counter()
    report = pipeline.analyze(analysis)
    analyzing = time.perf_counter() - start
    start = time.perf_counter()
    pipeline.render(report, pipeline.OutputFormat.JSON)
    pipeline.render(report, pipeline.OutputFormat.MARKDOWN)
    rendering = time.perf_counter() - start
    rows = [("imports", IMPORTED)]
    rows += [(label, seconds.get(name, 0.0)) for name, label in STEPS.items()]
    rows += [("the rest of analyze", analyzing - sum(seconds.values()))]
    rows += [("render JSON + Markdown", rendering)]
    print("| phase | seconds |\n|---|---:|")
    for label, value in rows:
        print(f"| {label} | {value:.2f} |")
    print(f"| **total** | **{time.perf_counter() - started:.2f}** |")


if __name__ == "__main__":
    main()
