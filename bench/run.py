"""Run the benchmark and print its table: `python -m bench.run` (or `make bench`).

For one generated scenario (default: 1,000,000 entries, 1,000 failures over 5,000 tests) it runs,
interleaved, each a separate process, the median of `--runs`:

1. the floor: polars scanning the NDJSON for the fields the analysis reads (`bench.floor`);
2. `fivewhys analyze` end to end, NDJSON in, JSON and Markdown out (`bench.analyze`);
3. the same from a Parquet bundle of the same entries;
4. the naive baseline (`bench.naive`);
5. the peer: DuckDB's `read_ndjson` and the bare keyed and time-only join (`bench.peer`);

each started from a small launcher (`bench.launch`) so its peak RSS is its own. Before them, the
two small runs a user makes most (`fivewhys --help`, the bundled example's report); after them,
the ratios, the report sizes, the attribution accuracy against the scenario's truth, and rows
scaling the entries (100k, 1M) and the failures (100, 1,000, 10,000). Generated data lives in
`bench/out/`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from bench.generate import HOST, PROJECT, SERVICE, T0_US, Scenario, ScenarioFiles, ensure

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
PEER = "peer: DuckDB bare join"
#: the fields a report shows, for the "minimal floor" reference row
MINIMAL_SCHEMA: dict[str, Any] = {
    **dict.fromkeys(
        ("insertId", "timestamp", "severity", "logName", "trace", "spanId", "textPayload"),
        "String",
    ),
    "resource": {
        "labels": dict.fromkeys(("service_name", "revision_name", "project_id"), "String")
    },
    "labels": {"instanceId": "String"},
    "httpRequest": dict.fromkeys(
        ("requestMethod", "requestUrl", "status", "latency", "userAgent"), "String"
    ),
    "jsonPayload": dict.fromkeys(("message", "connection_id", "user_id"), "String"),
}


@dataclass
class Measure:
    """Wall seconds and peak RSS (MiB) of each run of one command."""

    label: str
    command: list[str]
    seconds: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)

    @property
    def time(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rss(self) -> float:
        return statistics.median(self.rss_mib)


def run_once(measure: Measure) -> None:
    """One run through the small launcher (`bench.launch`): its wall time and its own peak RSS
    (a child forked from this process would report this process's high-water mark)."""
    launched = subprocess.run(
        [PYTHON, "-m", "bench.launch", *measure.command],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    outcome = json.loads(launched.stdout)
    if outcome["exit"] != 0:
        raise SystemExit(f"failed ({outcome['exit']}): {' '.join(measure.command)}")
    measure.seconds.append(outcome["seconds"])
    measure.rss_mib.append(outcome["rss_kib"] / 1024)


def schema_json(schema: dict[str, pl.DataType]) -> dict[str, Any]:
    def spec(dtype: Any) -> Any:
        if isinstance(dtype, pl.Struct):
            return {f.name: spec(f.dtype) for f in dtype.fields}
        return "String"

    return {name: spec(dtype) for name, dtype in schema.items()}


def write_bundle(files: ScenarioFiles, scenario: Scenario) -> Path:
    """The entries as a Parquet bundle, as `fivewhys pull` would keep them."""
    from fivewhys import __version__
    from fivewhys.logs.bundle import BundleMeta, write_bundle
    from fivewhys.logs.files import read_log_files
    from fivewhys.model import PulledWindow, PullInfo

    bundle = files.directory / "logs.parquet"
    if bundle.is_file() and bundle.stat().st_mtime > files.logs.stat().st_mtime:
        return bundle
    read = read_log_files([str(files.logs)])
    start = datetime.fromtimestamp(T0_US / 1e6, tz=UTC)
    end = datetime.fromtimestamp(T0_US / 1e6 + scenario.span_s, tz=UTC)
    window = PulledWindow(start=start, end=end, status="complete", entries=read.frame.height)
    pull = PullInfo(
        project=PROJECT,
        services=(SERVICE,),
        filter=f'resource.labels.service_name="{SERVICE}"',
        pulled_at=end,
        windows=(window,),
    )
    meta = BundleMeta(
        tool_version=__version__,
        entry_count=read.frame.height,
        pull=pull,
        sources=(f"https://{HOST} (generated)",),
        skipped=read.skipped,
        mapped=read.mapped,
        warnings=tuple(read.warnings),
    )
    write_bundle(bundle, read.frame, meta)
    return bundle


def accuracy(blamed: dict[str, str | None], truth: dict[str, Any]) -> tuple[int, int]:
    """Failures attributed right: to a line proving the cause, or to none when there is none."""
    right = 0
    for test, cited in blamed.items():
        expected = truth[test]
        if not expected["evidence"]:
            right += cited is None
        elif expected["keyed"]:
            right += cited in expected["evidence"]
        else:  # only time ties it: citing nothing is right too
            right += cited is None or cited in expected["evidence"]
    return right, len(blamed)


def cited(report: dict[str, Any]) -> dict[str, str | None]:
    """Per failed test, the first line the report cites as matching its cause (or, without a
    cause, its bucket's rule): schema 1.5 lists a caused failure's lines as `cites` (their
    text once, in the cause) and the others' as `candidates`; before 1.5 both as `evidence`."""
    return {
        f["test_id"]: next(
            (
                e["insert_id"]
                for e in (*f.get("cites", ()), *f.get("candidates", ()), *f.get("evidence", ()))
                if e.get("matched")
            ),
            None,
        )
        for f in report["failures"]
    }


def write_failures(files: ScenarioFiles, path: Path) -> Path:
    """The failures' windows and ids for the peer, from fivewhys' own reader (not timed)."""
    from fivewhys.config import Settings
    from fivewhys.correlate import failure_window
    from fivewhys.results import read_results

    settings = Settings()
    failures = read_results([files.results]).failures
    rows = []
    for index, failure in enumerate(failures):
        window = failure_window(failure, settings.window)
        rows.append(
            {
                "idx": index,
                "start": window.start.isoformat(),
                "end": window.end.isoformat(),
                "connection_ids": list(failure.ids.connection_ids),
                "user_ids": list(failure.ids.user_ids),
                "traces": list(failure.ids.traces),
            }
        )
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


#: the small jobs a user runs most: they should feel instant
EXAMPLE = ("examples/results/report-log.jsonl", "--logs", "examples/logs/gcloud-read.json")


def small_measures(out: Path) -> list[Measure]:
    """`fivewhys --help` and the bundled example's report, as a user runs them."""
    cli = str(Path(PYTHON).parent / "fivewhys")
    report = str(out / "example-rca.md")
    return [
        Measure("fivewhys --help", [cli, "--help"]),
        Measure("example report (analyze -o rca.md)", [cli, "analyze", *EXAMPLE, "-o", report]),
    ]


def small_table(found: list[Measure]) -> str:
    targets = {"fivewhys --help": 0.2, "example report (analyze -o rca.md)": 0.5}
    lines = [
        "| small run | wall (s) | target (s) | peak RSS (MiB) |",
        "|---|---:|---:|---:|",
    ]
    for measure in found:
        target = targets[measure.label]
        verdict = "met" if measure.time <= target else "missed"
        lines.append(
            f"| {measure.label} | {measure.time:.2f} | ≤ {target} ({verdict}) | {measure.rss:.0f} |"
        )
    return "\n".join(lines)


def report_sizes(reports: dict[str, Path], failures: int) -> str:
    """How big the reports of one analysis are (they should scale with causes, not failures)."""
    parts = []
    for name in ("rca.json", "rca.md"):
        size = (reports["ndjson"] / name).stat().st_size
        parts.append(f"{name} {size / 1e6:.1f} MB ({size / failures / 1e3:.1f} kB per failure)")
    return "report sizes: " + ", ".join(parts)


@dataclass
class Row:
    scenario: Scenario
    floor: Measure
    analyze: Measure


def measures(
    scenario: Scenario, files: ScenarioFiles, out: Path, full: bool
) -> tuple[list[Measure], dict[str, Path]]:
    from fivewhys.logs.fast import SCHEMA

    schemas = {"floor": out / "floor-schema.json", "minimal": out / "minimal-schema.json"}
    schemas["floor"].write_text(json.dumps(schema_json(SCHEMA)))
    schemas["minimal"].write_text(json.dumps(MINIMAL_SCHEMA))
    logs, results = str(files.logs), str(files.results)
    reports = {name: out / name for name in ("ndjson", "parquet")}

    def analyze(label: str, source: str, report: Path, *flags: str) -> Measure:
        command = [PYTHON, "-m", "bench.analyze", results, "--logs", source, "--out", str(report)]
        return Measure(label, [*command, *flags])

    found = [
        Measure("floor", [PYTHON, "-m", "bench.floor", logs, str(schemas["floor"])]),
        analyze("analyze NDJSON", logs, reports["ndjson"]),
    ]
    if not full:
        return found, reports
    bundle = str(write_bundle(files, scenario))
    naive = out / "naive.json"
    peer_input = write_failures(files, out / "failures.json")
    found += [
        analyze("analyze Parquet", bundle, reports["parquet"]),
        Measure("naive", [PYTHON, "-m", "bench.naive", results, logs, str(naive)]),
        Measure(PEER, [PYTHON, "-m", "bench.peer", logs, str(peer_input)]),
        Measure("floor (report fields only)", [*found[0].command[:-1], str(schemas["minimal"])]),
    ]
    reports["naive"] = naive
    return found, reports


def machine() -> str:
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as handle:
        memory = int(handle.readline().split()[1]) / 1024 / 1024
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, polars {pl.__version__}, "
        f"load average {os.getloadavg()[0]:.2f} at the start"
    )


def main() -> None:
    defaults = Scenario()
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--entries", type=int, default=defaults.entries)
    parser.add_argument("--failures", type=int, default=defaults.failures)
    parser.add_argument("--tests", type=int, default=defaults.tests)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--runs", type=int, default=3, help="runs per measure (median)")
    parser.add_argument("--scaling-runs", type=int, default=1, help="runs per scaling row")
    parser.add_argument("--no-scaling", action="store_true", help="skip the scaling rows")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--small-only", action="store_true", help="only the small-run rows")
    args = parser.parse_args()
    scenario = Scenario(args.entries, args.failures, args.tests, args.seed)
    print(f"machine: {machine()}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    small = small_measures(args.out)
    for _ in range(max(5, args.runs)):
        for measure in small:
            run_once(measure)
    print(small_table(small), flush=True)
    if args.small_only:
        return

    files = ensure(scenario, args.out)
    out = files.directory
    found, reports = measures(scenario, files, out, full=True)
    for n in range(args.runs):
        for measure in found:
            run_once(measure)
            print(f"run {n + 1}: {measure.label}: {measure.seconds[-1]:.2f} s", flush=True)
    truth = json.loads(files.truth.read_text())
    attributions = {
        "analyze NDJSON": cited(json.loads((reports["ndjson"] / "rca.json").read_text())),
        "analyze Parquet": cited(json.loads((reports["parquet"] / "rca.json").read_text())),
        "naive": json.loads(reports["naive"].read_text()),
    }
    print(table(scenario, found, attributions, truth), flush=True)
    print(report_sizes(reports, scenario.failures), flush=True)

    if not args.no_scaling:
        rows = []
        for point in scaling(scenario):
            point_files = ensure(point, args.out)
            pair, _ = measures(point, point_files, point_files.directory, full=False)
            for _ in range(args.scaling_runs):
                for measure in pair:
                    run_once(measure)
            rows.append(Row(point, pair[0], pair[1]))
            print(f"scaling: {point.name}: {pair[1].time:.2f} s", flush=True)
        print(scaling_table(rows), flush=True)


def scaling(base: Scenario) -> list[Scenario]:
    """100k and 1M entries at the base failures; 100, 1,000, 10,000 failures at 1M entries."""
    points = [replace(base, entries=100_000), base]
    for failures in (100, 1_000, 10_000):
        point = replace(base, failures=failures, tests=max(base.tests, 5 * failures))
        if point not in points:
            points.append(point)
    return points


def table(
    scenario: Scenario,
    found: list[Measure],
    attributions: dict[str, dict[str, str | None]],
    truth: dict[str, Any],
) -> str:
    by_label = {m.label: m for m in found}
    floor = by_label["floor"]
    lines = [
        f"scenario {scenario.name}: {scenario.entries:,} entries, {scenario.failures:,} failures "
        f"over {scenario.tests:,} tests; median of {len(floor.seconds)} runs",
        "",
        "| measure | time (s) | × floor | peak RSS (MiB) | × floor RSS | accuracy |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for measure in found:
        right, total = (
            accuracy(attributions[measure.label], truth)
            if (measure.label in attributions)
            else (0, 0)
        )
        score = f"{right}/{total} ({100 * right / total:.1f}%)" if total else ""
        lines.append(
            f"| {measure.label} | {measure.time:.2f} | {measure.time / floor.time:.2f} | "
            f"{measure.rss:.0f} | {measure.rss / floor.rss:.2f} | {score} |"
        )
    ndjson, parquet, naive = (by_label[k] for k in ("analyze NDJSON", "analyze Parquet", "naive"))
    lines += [
        "",
        f"ratios: NDJSON/floor {ndjson.time / floor.time:.2f} (target ≤ 1.5), "
        f"Parquet/floor {parquet.time / floor.time:.2f} (target ≤ 0.5), "
        f"naive/NDJSON {naive.time / ndjson.time:.1f} (target ≥ 10), "
        f"RSS NDJSON/floor {ndjson.rss / floor.rss:.2f} (target ≤ 1.5)",
        f"peer: NDJSON/DuckDB bare join {ndjson.time / by_label[PEER].time:.2f}, "
        f"Parquet/DuckDB bare join {parquet.time / by_label[PEER].time:.2f} (target ≤ 1)",
    ]
    return "\n".join(lines)


def scaling_table(rows: list[Row]) -> str:
    lines = [
        "| entries | failures | tests | floor (s) | analyze NDJSON (s) | × floor | "
        "µs per entry | ms per failure | peak RSS (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        s, t, floor = row.scenario, row.analyze.time, row.floor.time
        lines.append(
            f"| {s.entries:,} | {s.failures:,} | {s.tests:,} | {floor:.2f} | {t:.2f} | "
            f"{t / floor:.2f} | "
            f"{1e6 * t / s.entries:.2f} | {1e3 * t / s.failures:.1f} | {row.analyze.rss:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
