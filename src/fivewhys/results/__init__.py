"""Results readers: failed e2e tests from JUnit XML, pytest-reportlog or pytest-json-report.

Each file's format is told from its content. Several files may be given: one failure reported
by two files of the same run is kept once, from the file with the best times. Files of distinct
runs are shards (a CI matrix): each keeps its own clock, and the same test in two shards is two
attempts. A test whose last attempt passed after a failed one is flaky: each failed attempt
stays a failure of its own, marked with the attempt it passed on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from fivewhys.errors import read_as_input
from fivewhys.ids import DEFAULT_PATTERNS, IdPatterns
from fivewhys.model import Failure, RunInterval
from fivewhys.results.common import FileResults, Kind
from fivewhys.results.detect import read_file

__all__ = ["ResultSet", "read_results"]

#: which copy of a failure to keep when two files of one run report it: exact times first,
#: then per-phase durations, then JUnit's per-test durations
_PREFERENCE: dict[Kind, int] = {"reportlog": 0, "jsonreport": 1, "junit": 2}


@dataclass(frozen=True)
class ResultSet:
    """The failures of one or more results files, merged."""

    #: sorted by (finished_at, test_id)
    failures: list[Failure]
    #: distinct tests seen in the file(s)
    tests_total: int
    #: how the results were read (e.g. that windows are approximate)
    notes: list[str]
    #: non-fatal problems, each naming file and place
    warnings: list[str]
    #: when each test of each file ran, passed ones too (correlate reads them)
    intervals: list[RunInterval] = field(default_factory=list)
    #: the shards read (one name per run, its first file), when the files are of several runs
    shards: list[str] = field(default_factory=list)


def read_results(
    paths: Sequence[Path],
    *,
    tz: tzinfo | None = None,
    patterns: IdPatterns = DEFAULT_PATTERNS,
    started_at: datetime | None = None,
) -> ResultSet:
    """Read and merge results files. `tz` reads JUnit timestamps written without an offset;
    `started_at` places runs whose files do not say when they started (JUnit before pytest 5.1,
    a report log of collection errors only).

    Raises InputError for a file that cannot be read or is of no known format.
    """
    files = [
        _read_one(Path(path), tz=tz, patterns=patterns, started_at=started_at) for path in paths
    ]
    failures, merge_notes = _merge(files)
    runs = _runs(files)
    names = [str(run[0].path) for run in runs] if len(runs) > 1 else []
    failures, intervals = _attempts(failures, runs, names)
    failures.sort(key=lambda failure: (failure.finished_at, failure.test_id, failure.attempt))
    notes = [note for file in files for note in file.notes] + merge_notes
    if names:
        notes.append(
            f"{len(names)} shards of one run (results of distinct runs: {', '.join(names)}): "
            "each placed by its own times; a test in two shards is two attempts"
        )
    return ResultSet(
        failures=failures,
        tests_total=len(set().union(*(file.test_ids for file in files))),
        notes=notes,
        warnings=[warning for file in files for warning in file.warnings],
        intervals=intervals,
        shards=names,
    )


def _runs(files: list[FileResults]) -> list[list[FileResults]]:
    """The files grouped by run (files of one run joined by `_same_run`), in the order given."""
    runs: list[list[FileResults]] = []
    for file in files:
        joined = [run for run in runs if any(_same_run(file, other) for other in run)]
        merged = [file] + [member for run in joined for member in run]
        runs = [run for run in runs if run not in joined]
        runs.append(sorted(merged, key=files.index))
    return sorted(runs, key=lambda run: files.index(run[0]))


def _attempts(
    failures: list[Failure], runs: list[list[FileResults]], names: list[str]
) -> tuple[list[Failure], list[RunInterval]]:
    """Attempts numbered across shards (by when each began) and failures of flaky tests marked
    with the attempt they passed on; intervals of one run's twin files kept once."""
    run_of = {id(file): n for n, run in enumerate(runs) for file in run}
    spans: dict[tuple[int, str, int], RunInterval] = {}
    for n, run in enumerate(runs):
        for file in sorted(run, key=lambda file: _PREFERENCE[file.kind]):
            for span in file.intervals:
                spans.setdefault((n, span.test_id, span.attempt), span)
    order: dict[str, list[tuple[datetime, int, int]]] = {}
    for (n, test_id, attempt), span in spans.items():
        order.setdefault(test_id, []).append((span.start, n, attempt))
    number: dict[tuple[int, str, int], int] = {}
    last: dict[str, tuple[int, int]] = {}
    for test_id, seen in order.items():
        seen.sort()
        for k, (_start, n, attempt) in enumerate(seen, 1):
            number[(n, test_id, attempt)] = k
        last[test_id] = (seen[-1][1], seen[-1][2])
    by_file = {id(failure): file for run in runs for file in run for failure in file.failures}
    failing = {
        (run_of[id(by_file[id(f)])], f.test_id, f.attempt) for f in failures if id(f) in by_file
    }
    marked: list[Failure] = []
    for failure in failures:
        n = run_of[id(by_file[id(failure)])]
        key = (n, failure.test_id, failure.attempt)
        update: dict[str, object] = {"shard": names[n] if names else None}
        if key in number:
            update["attempt"] = number[key]
            final = last[failure.test_id]
            if (final[0], failure.test_id, final[1]) not in failing:
                update["passed_on"] = len(order[failure.test_id])
        # copied only where a value changes (most failures of a run of one file: none does)
        changed = {name: value for name, value in update.items() if getattr(failure, name) != value}
        marked.append(failure.model_copy(update=changed) if changed else failure)
    intervals = [
        span if span.attempt == number[key] else span.model_copy(update={"attempt": number[key]})
        for key, span in spans.items()
    ]
    return marked, intervals


def _same_run(a: FileResults, b: FileResults) -> bool:
    """Two files of one run: the same file given twice, or two formats (pytest writes one file
    per format per run) whose run spans overlap. Two files of one format are two runs, even
    when their spans overlap (a CI matrix running the suite twice at once)."""
    if a.path.resolve() == b.path.resolve():
        return True
    if a.kind != b.kind and (a.span is None or b.span is None):
        return True  # a report log of collection errors only has no times: the other file has
    return (
        a.kind != b.kind
        and a.span is not None
        and b.span is not None
        and a.span[0] <= b.span[1]
        and b.span[0] <= a.span[1]
    )


def _merge(files: list[FileResults]) -> tuple[list[Failure], list[str]]:
    """All failures, except a (test, phase, attempt) already kept from another file of the
    same run."""
    kept: list[Failure] = []
    seen: dict[tuple[str, str, int], list[FileResults]] = {}
    dropped: Counter[tuple[str, str]] = Counter()
    for file in sorted(files, key=lambda file: (file.span is None, _PREFERENCE[file.kind])):
        for failure in file.failures:
            key = (failure.test_id, failure.phase, failure.attempt)
            others = (other for other in seen.get(key, []) if other is not file)
            twin = next((other for other in others if _same_run(other, file)), None)
            if twin is not None:
                dropped[(str(file.path), str(twin.path))] += 1
                continue
            seen.setdefault(key, []).append(file)
            kept.append(failure)
    notes = [
        f"{dropped_from}: {count} failure(s) also in {kept_from} (same run): kept {kept_from}'s"
        for (dropped_from, kept_from), count in dropped.items()
    ]
    return kept, notes


def _read_one(
    path: Path, *, tz: tzinfo | None, patterns: IdPatterns, started_at: datetime | None
) -> FileResults:
    with read_as_input(path):
        return read_file(path, tz=tz, patterns=patterns, started_at=started_at)
