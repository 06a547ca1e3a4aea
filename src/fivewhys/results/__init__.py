"""Results readers: failed e2e tests from JUnit XML, pytest-reportlog or pytest-json-report.

Each file's format is told from its content. Several files may be given: one failure reported
by two files of the same run is kept once, from the file with the best times.
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
    failures.sort(key=lambda failure: (failure.finished_at, failure.test_id))
    return ResultSet(
        failures=failures,
        tests_total=len(set().union(*(file.test_ids for file in files))),
        notes=[note for file in files for note in file.notes] + merge_notes,
        warnings=[warning for file in files for warning in file.warnings],
        intervals=[span for file in files for span in file.intervals],
    )


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
    """All failures, except a (test, phase) already kept from another file of the same run."""
    kept: list[Failure] = []
    seen: dict[tuple[str, str], list[FileResults]] = {}
    dropped: Counter[tuple[str, str]] = Counter()
    for file in sorted(files, key=lambda file: (file.span is None, _PREFERENCE[file.kind])):
        for failure in file.failures:
            key = (failure.test_id, failure.phase)
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
