"""The real captures of a staging backend (tests/data, see PROVENANCE.md): honest analysis.

These logs only partly overlap the runs. The second run's failures saw HTTP 500 while the
server logged 403s in its last seconds: no 403 line may be pinned on them, and failures no
captured log covers must be reported as such.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fivewhys.pipeline import Analysis, OutputFormat, analyze, render

DATA = Path(__file__).parent / "data"
LOGS = str(DATA / "logs" / "real" / "cloudrun-entries.ndjson")
RUN_403 = DATA / "results" / "real" / "junit_20250907T152209Z_http403.xml"
RUN_500 = DATA / "results" / "real" / "junit_20250907T153851Z_http500.xml"
JSON_500 = DATA / "results" / "real" / "pytest_json_report_20250907T153851Z_http500.json"


@pytest.mark.parametrize("results", [RUN_403, RUN_500, JSON_500])
def test_real_runs_analyse_and_render(results: Path) -> None:
    report = analyze(Analysis(results=[results], logs=[LOGS]))
    assert len(report.failures) == 10
    assert report.log_entries > 150
    for fmt in OutputFormat:
        assert render(report, fmt)


def test_no_403_line_is_pinned_on_a_failure_that_saw_500() -> None:
    report = analyze(Analysis(results=[RUN_500], logs=[LOGS]))
    saw_500 = [f for f in report.failures if "HTTP 500" in f.message]
    assert len(saw_500) == 7
    for failure in saw_500:
        assert failure.cause_id is None
        assert all(e.http_status != 403 and "403" not in e.message for e in failure.candidates)
    # the 403 lines fall in the setup errors' own tests (which saw 403): set aside for the rest
    assert all("were written while another test ran" in f.note for f in saw_500[1:])


def test_the_run_no_captured_log_covers_is_reported_as_such() -> None:
    report = analyze(Analysis(results=[RUN_403], logs=[LOGS]))
    assert all(not f.covered and f.cause_id is None for f in report.failures)
    assert all(f.note.startswith("No log entry covers the window") for f in report.failures)
    # no log at all is no proof that the server had no part: never client-side
    assert {f.bucket for f in report.failures} == {"unexplained"}
    assert "no log entry covers the test's window" in report.summary


def test_time_only_candidates_never_make_a_cause() -> None:
    report = analyze(Analysis(results=[RUN_500], logs=[LOGS]))
    setup_errors = [f for f in report.failures if f.outcome == "error"]
    assert len(setup_errors) == 3
    for failure in setup_errors:
        assert failure.cause_id is None and failure.confidence == 0.0
        assert failure.candidates and all(e.join_key == "time" for e in failure.candidates)
