"""The analysis, start to end, callable without click: results + logs + rules -> Report.

Logs come from files (JSON, NDJSON, Parquet bundles) or are pulled live for the failure
windows; a pull can be kept as a bundle, which later reads back into the same report.
"""

from __future__ import annotations

import dataclasses
import gc
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from fivewhys import __version__
from fivewhys.chain import in_chain_order
from fivewhys.ci import with_history
from fivewhys.config import Settings
from fivewhys.contact import server_contact
from fivewhys.correlate import Correlation, correlate, failure_window
from fivewhys.deeper import with_revisions, with_tracebacks
from fivewhys.deploys import audit_filter, deploys_from_entries, read_deploys
from fivewhys.errors import FivewhysError
from fivewhys.ids import IdPatterns
from fivewhys.logs.bundle import BundleMeta, write_bundle
from fivewhys.logs.files import LogRead, read_log_files
from fivewhys.logs.frame import empty_logframe
from fivewhys.logs.query import build_filter, coalesce, gcloud_command, window_queries
from fivewhys.model import (
    Cause,
    Failure,
    FailureReport,
    LogFileRead,
    PullInfo,
    QueryInfo,
    Report,
    RunInterval,
    RunRevisions,
    Window,
    WindowQuery,
    WindowStatus,
)
from fivewhys.patterns import with_patterns
from fivewhys.redact import clean_report, redact_frame
from fivewhys.report.json import render_json
from fivewhys.report.markdown import render_markdown
from fivewhys.report.text import utc
from fivewhys.results import read_results
from fivewhys.revisions import run_revisions
from fivewhys.rules.loader import bundled_rules_dir, load_rules
from fivewhys.rules.schema import Rule
from fivewhys.suspects import with_suspects
from fivewhys.whys import (
    build_causes,
    explain_failures,
    failure_lines,
    failure_reports,
    time_caps,
)

if TYPE_CHECKING:  # imported where used: a file analysis pulls, queries and bundles nothing
    from fivewhys.logs.bigquery import BigQuerySource
    from fivewhys.logs.bigquery_sql import Query
    from fivewhys.logs.live import LivePull, LiveSource

#: 1.2: attempts, flaky tests, intermittent causes, shards, runner timeouts and their frames;
#: 1.3: the whys past the server line: each cause's stitched stack traces (`tracebacks`) and
#: the revisions of its evidence (`revisions`); the run's `revisions` (served, deploys read from
#: the audit entries, findings), the `headline` the report states first, and per test whether
#: it reached the server (`contacts`); 1.4: each cause's `suspects` (its raising frame in the
#: --repo checkout and the commits that touched it), `regression` (its last green run and first
#: failing one, from --history), the run's `run_started_at` and `tests_passed` (so a green run
#: is kept and compared), each cause's `patterns` (what all its failures share, with counts)
#: and per why its `step` of the chain (and a rule question's `answered_by`): whys come in
#: chain order (fivewhys.chain); 1.5: evidence shared by cause: a cause's `evidence` lists each
#: line once, its best ten (what the reports list) and then every other line its failures
#: cite; a failure with a cause points to its lines (`cites`: insert_id and what is its own,
#: join_key, offset_s, matched, score) instead of carrying them, and only a failure without
#: one carries its best candidate lines whole (`candidates`); `evidence` of a failure is gone
SCHEMA_VERSION = "1.5"
#: fallback buckets a rule files a failure into
BUCKETED = ("client-side", "server-error")


class OutputFormat(StrEnum):
    """What `--format` can ask for; every value has a renderer (checked by a test)."""

    MARKDOWN = "md"
    JSON = "json"
    HTML = "html"


class Flavor(StrEnum):
    """Which markup `md` means: GitHub-flavoured Markdown, or Jira wiki markup for tickets."""

    GFM = "gfm"
    JIRA = "jira"


def render_html(report: Report) -> str:
    """The HTML report (its renderer is imported only for it)."""
    from fivewhys.report.html import render_html

    return render_html(report)


RENDERERS = {
    OutputFormat.MARKDOWN: render_markdown,
    OutputFormat.JSON: render_json,
    OutputFormat.HTML: render_html,
}


@dataclass(frozen=True)
class Analysis:
    """What one `analyze` run reads."""

    results: Sequence[Path]
    logs: Sequence[str] = ()
    rule_dirs: Sequence[Path] = ()
    tz: tzinfo | None = None
    settings: Settings = field(default_factory=Settings)
    #: pull the logs from Cloud Logging instead of reading `logs`
    live: LiveSource | None = None
    #: query the logs routed to BigQuery instead of reading `logs`
    bigquery: BigQuerySource | None = None
    #: keep what was pulled as a bundle here
    save_logs: Path | None = None
    #: when the logs cannot be read at all, report without them instead of stopping (CI)
    tolerate_unreadable_logs: bool = False
    #: one log file that cannot be read stops the run (else the others are read, with a warning)
    strict: bool = False
    #: the run's start, for results files that do not give it (JUnit before pytest 5.1)
    started_at: datetime | None = None
    #: the revision the run was meant to test: any other that served it is a finding
    expect_revision: str | None = None
    #: the commit the run was meant to test (a served revision's `commit-sha` label)
    expect_commit: str | None = None
    #: a local git checkout of the service: the commits that touched each raising frame
    repo: Path | None = None
    #: the history directory of earlier runs (read only: `fivewhys ci` keeps this run in it)
    history: Path | None = None


def analyze(analysis: Analysis) -> Report:
    """Read, correlate, match, explain; the returned report is already cleaned (secrets
    redacted, control characters and CI command marks escaped: redact.clean_report)."""
    with _fewer_collections():
        return _analyze(analysis)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """An analysis makes millions of objects that live until its report is done, and hardly a
    cycle: at the default thresholds the collector goes over all of them again and again
    (8 % of a 10,000-failure run). The thresholds mypy runs with; restored after."""
    before = gc.get_threshold()
    gc.set_threshold(200_000, 30, 30)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _analyze(analysis: Analysis) -> Report:
    settings = analysis.settings
    patterns = settings.id_patterns()
    results = read_results(
        analysis.results, tz=analysis.tz, patterns=patterns, started_at=analysis.started_at
    )
    rules = load_rules([bundled_rules_dir(), *analysis.rule_dirs], collect_errors=False)
    failures = [failure for failure in results.failures if failure.placed]
    unplaced = [failure for failure in results.failures if not failure.placed]
    logs_unread: str | None = None
    uncounted: Sequence[Window] = ()
    try:
        logs, uncounted = _read_logs(analysis, failures, patterns, rules, results.intervals)
    except FivewhysError as exc:
        if not analysis.tolerate_unreadable_logs:
            raise
        logs_unread = str(exc)
        logs = LogRead(frame=empty_logframe(), sources=[], skipped={}, warnings=[], mapped={})
    if analysis.live is not None and logs.pulls:
        logs = _deploy_lookback(analysis.live, logs, _run_span(results.intervals, failures))
    if analysis.save_logs is not None and logs.pulls:
        # analyse what the bundle keeps, so re-reading it later gives the same report
        logs = dataclasses.replace(logs, frame=redact_frame(logs.frame))
        save_bundle(analysis.save_logs, logs)
    pulls = logs.pulls
    # a BigQuery job may run in another project than the one the logs were written in: links
    # and commands name the logs' own
    pulled = pulls[0].project if pulls else None
    project = pulled if pulls and pulls[0].bigquery is None else _project(logs.frame) or pulled
    correlation = _uncounted(
        correlate(
            failures, logs.frame, settings.window, time_caps(failures, rules), results.intervals
        ),
        uncounted,
    )
    explained = explain_failures(
        failures, correlation, rules, slack_s=settings.window.skew_s, project=project
    )
    causes = build_causes(explained)
    lines = failure_lines(explained) + [() for _ in unplaced]
    reports = failure_reports(explained, causes, correlation, lines) + [
        _unplaced(f) for f in unplaced
    ]
    unique_causes = sorted({c.id: c for c in causes.values()}.values(), key=_cause_number)
    unique_causes = with_tracebacks(unique_causes, logs.frame)
    revisions, audit_reach = _revisions(analysis, logs, results.intervals, failures)
    first_failure: dict[str, datetime] = {}
    for failure_report in reports:
        if failure_report.cause_id and failure_report.finished_at is not None:
            known = first_failure.get(failure_report.cause_id, failure_report.finished_at)
            first_failure[failure_report.cause_id] = min(known, failure_report.finished_at)
    contacts, unreached = server_contact(
        results.intervals, reports, lines, logs.frame, settings.window.skew_s
    )
    unique_causes = with_revisions(unique_causes, revisions.deploys, first_failure, audit_reach)
    unique_causes = with_patterns(
        unique_causes, reports, lines, results.intervals, logs.frame, revisions
    )

    in_frame = {s for s in logs.frame.get_column("service").unique().to_list() if s}
    services = sorted(in_frame.union(*(p.services for p in pulls)))
    severities = {p.severity for p in pulls}
    severity = severities.pop() if len(severities) == 1 else None
    windows = coalesce(correlation.windows)
    log_filter = build_filter(windows, services, severity)
    per_window = tuple(_window_query(w, logs, services, project, severity) for w in windows)
    notes = [
        *results.notes,
        *_file_notes(logs.files),
        *_log_notes(logs),
        *_pull_notes(pulls, per_window),
    ]
    if not analysis.logs and analysis.live is None and analysis.bigquery is None:
        notes.append("No logs were given (--logs): no failure can be proven from the server side.")
    if logs_unread is not None:
        notes.append(
            f"The logs could not be read ({logs_unread}): no failure can be proven from the "
            "server side."
        )
    report = Report(
        schema_version=SCHEMA_VERSION,
        tool_version=__version__,
        summary=_summary(results.tests_total, results.failures, reports, unique_causes, per_window),
        results=tuple(str(p) for p in analysis.results),
        tests_total=results.tests_total,
        failures=tuple(reports),
        causes=tuple(unique_causes),
        query=QueryInfo(
            sources=tuple(logs.sources),
            filter=log_filter,
            gcloud_command=gcloud_command(log_filter, project),
            windows=tuple(windows),
            project=project,
            per_window=per_window,
            pulls=tuple(pulls),
        ),
        log_entries=logs.frame.height,
        notes=tuple(notes),
        warnings=(*results.warnings, *logs.warnings),
        logs_unread=logs_unread,
        log_files=tuple(logs.files),
        shards=tuple(results.shards),
        headline=(*unreached, *revisions.findings),
        contacts=contacts,
        revisions=revisions,
        run_started_at=min((i.start for i in results.intervals), default=None),
        tests_passed=_passed(results.intervals, reports),
    )
    cleaned = clean_report(report)  # first: the history's fingerprints are of cleaned text
    if analysis.history is None and analysis.repo is None:
        return _in_chain_order(cleaned)
    return clean_report(_deeper(cleaned, analysis))  # cleaning again: git's and history's text


def _deeper(report: Report, analysis: Analysis) -> Report:
    """The whys that need more than this run: when the cause began (--history), and the
    commits that touched its raising frame (--repo), from the last green commit when known."""
    if analysis.history is not None:
        report = with_history(report, analysis.history)
    if analysis.repo is not None:
        report = _with_suspects(report, analysis.repo, analysis.expect_commit)
    return _in_chain_order(report)


def _in_chain_order(report: Report) -> Report:
    return report.model_copy(update={"causes": tuple(in_chain_order(report.causes))})


def _with_suspects(report: Report, repo: Path, expect_commit: str | None) -> Report:
    green: dict[str, tuple[str, str]] = {}
    for cause in report.causes:
        began = cause.regression
        if began is not None and began.green_commit:
            green[cause.id] = (began.green_commit, f"the last green run's, {utc(began.green_at)}")
    causes, warnings = with_suspects(
        report.causes,
        report.revisions.deploys,
        repo,
        expect_commit=expect_commit,
        green=green,
    )
    return report.model_copy(
        update={"causes": tuple(causes), "warnings": (*report.warnings, *warnings)}
    )


def _passed(intervals: Sequence[RunInterval], failures: Sequence[FailureReport]) -> tuple[str, ...]:
    """The tests that passed, on some attempt: those run whose failures all passed later."""
    never = {f.test_id for f in failures if f.passed_on is None}
    return tuple(sorted({i.test_id for i in intervals} - never))


def pull(
    results: Sequence[Path],
    source: LiveSource,
    *,
    tz: tzinfo | None = None,
    settings: Settings | None = None,
) -> LivePull:
    """Pull the logs of the failure windows in `results` (what `fivewhys pull` keeps)."""
    from fivewhys.logs.live import pull_logs

    settings = settings or Settings()
    patterns = settings.id_patterns()
    read = read_results(results, tz=tz, patterns=patterns)
    windows = [failure_window(f, settings.window) for f in read.failures]
    pulled = pull_logs(source, windows, id_patterns=patterns)
    placed = [f for f in read.failures if f.placed]
    logs = _deploy_lookback(source, pulled.logs, _run_span(read.intervals, placed))
    return dataclasses.replace(pulled, logs=logs)


def query_bigquery(
    source: BigQuerySource,
    failures: Sequence[Failure],
    settings: Settings,
    patterns: IdPatterns,
    rules: Sequence[Rule],
    intervals: Sequence[RunInterval] = (),
) -> LogRead:
    """The entries of the failures' windows their report reads, from BigQuery: the keyed lines and
    the lines their rules join by time, then the windows of those left unexplained whole (see
    `logs/bigquery_sql.py`, `narrowing.bigquery_lines`)."""
    from fivewhys.logs.bigquery import read_bigquery

    windows, keys = _bigquery_scope(failures, settings)
    from fivewhys.narrowing import bigquery_lines

    time, whole = bigquery_lines(failures, rules, settings, intervals, source.project)
    return read_bigquery(source, windows, keys, time=time, whole=whole, id_patterns=patterns)


def pull_bigquery(
    results: Sequence[Path],
    source: BigQuerySource,
    *,
    tz: tzinfo | None = None,
    settings: Settings | None = None,
) -> LogRead:
    """Query BigQuery for the failures in `results` (what `fivewhys pull --bigquery` keeps): the
    lines the bundled and configured rules can read."""
    settings = settings or Settings()
    patterns = settings.id_patterns()
    read = read_results(results, tz=tz, patterns=patterns)
    rules = _configured_rules(settings, ())
    failures = [f for f in read.failures if f.placed]
    return query_bigquery(source, failures, settings, patterns, rules, read.intervals)


def bigquery_plan(
    results: Sequence[Path],
    source: BigQuerySource,
    *,
    tz: tzinfo | None = None,
    settings: Settings | None = None,
    started_at: datetime | None = None,
    rule_dirs: Sequence[Path] = (),
) -> Query | None:
    """The first query `--bigquery` would send for `results` (None: no failure to query for); a
    second may follow for the failures it leaves unexplained."""
    from fivewhys.logs.bigquery import plan

    settings = settings or Settings()
    read = read_results(results, tz=tz, patterns=settings.id_patterns(), started_at=started_at)
    failures = [f for f in read.failures if f.placed]
    windows, keys = _bigquery_scope(failures, settings)
    if not windows:
        return None
    rules = _configured_rules(settings, rule_dirs)
    from fivewhys.narrowing import bigquery_lines

    time, _whole = bigquery_lines(failures, rules, settings, read.intervals, source.project)
    return plan(source, windows, keys, time)[1]


def _configured_rules(settings: Settings, rule_dirs: Sequence[Path]) -> list[Rule]:
    """The bundled rules, the configured ones, then `rule_dirs`."""
    dirs = [bundled_rules_dir(), *(Path(p) for p in settings.rules), *rule_dirs]
    return load_rules(dirs, collect_errors=False)


def _bigquery_scope(
    failures: Sequence[Failure], settings: Settings
) -> tuple[list[Window], list[str]]:
    """The coalesced windows of the failures, and their ids: what a BigQuery query asks for."""
    windows = coalesce([failure_window(f, settings.window) for f in failures])
    ids = {k for f in failures for k in (*f.ids.connection_ids, *f.ids.user_ids, *f.ids.traces)}
    return windows, sorted(ids)


def save_bundle(path: Path, logs: LogRead) -> BundleMeta:
    """Write pulled logs as a bundle, secrets redacted; only a single pull has the metadata a
    bundle needs."""
    if len(logs.pulls) != 1:
        raise ValueError("a bundle holds exactly one pull (Cloud Logging or BigQuery)")
    pulled = logs.pulls[0]
    meta = BundleMeta(
        tool_version=__version__,
        entry_count=logs.frame.height,
        pull=pulled,
        missing_windows=tuple(w for w in pulled.windows if w.status != "complete"),
        sources=tuple(logs.sources),
        skipped=logs.skipped,
        mapped=logs.mapped,
        warnings=tuple(logs.warnings),
        deploys=logs.deploys,
        deploy_reach=logs.deploy_reach,
    )
    write_bundle(path, redact_frame(logs.frame), meta)
    return meta


def format_for(path: Path | None) -> OutputFormat:
    """The format an output file's extension asks for; Markdown otherwise."""
    suffix = path.suffix.lstrip(".").lower() if path else ""
    by_suffix = {"json": OutputFormat.JSON, "html": OutputFormat.HTML, "htm": OutputFormat.HTML}
    return by_suffix.get(suffix, OutputFormat.MARKDOWN)


def render(report: Report, output_format: OutputFormat, flavor: Flavor = Flavor.GFM) -> str:
    """The report as text in one format (and, for Markdown, one flavor): with the analysis'
    thresholds, as a big report's rendering makes as many objects as its analysis did."""
    with _fewer_collections():
        if output_format is OutputFormat.MARKDOWN and flavor is Flavor.JIRA:
            from fivewhys.report.jira import render_jira

            return render_jira(report)
        return RENDERERS[output_format](report)


def _read_logs(
    analysis: Analysis,
    failures: list[Failure],
    patterns: IdPatterns,
    rules: Sequence[Rule],
    intervals: Sequence[RunInterval],
) -> tuple[LogRead, tuple[Window, ...]]:
    """Pulled for the failure windows (narrowly unless asked for all), read from the files
    given, or none at all; with the ranges a narrow pull did not read in full."""
    if analysis.bigquery is not None:
        read = query_bigquery(
            analysis.bigquery, failures, analysis.settings, patterns, rules, intervals
        )
        return read, ()
    if analysis.live is not None:
        from fivewhys.logs.live import pull_logs
        from fivewhys.narrowing import narrow_plan

        windows = [failure_window(f, analysis.settings.window) for f in failures]
        plan = narrow_plan(failures, rules, analysis.settings, intervals, analysis.live.project)
        pulled = pull_logs(analysis.live, windows, id_patterns=patterns, narrow=plan)
        return pulled.logs, pulled.uncounted
    if analysis.logs:
        return read_log_files(analysis.logs, id_patterns=patterns, strict=analysis.strict), ()
    return LogRead(frame=empty_logframe(), sources=[], skipped={}, warnings=[], mapped={}), ()


def _uncounted(correlation: Correlation, uncounted: Sequence[Window]) -> Correlation:
    """A failure whose window a narrow pull did not read in full cannot count the lines with
    other ids set aside there (it never read them): say so instead of a number too small."""
    if not uncounted:
        return correlation
    set_aside = [
        dataclasses.replace(aside, other_ids=None)
        if any(w.start <= u.end and u.start <= w.end for u in uncounted)
        else aside
        for aside, w in zip(correlation.set_aside, correlation.windows, strict=True)
    ]
    return dataclasses.replace(correlation, set_aside=set_aside)


def _run_span(
    intervals: Sequence[RunInterval], failures: Sequence[Failure]
) -> tuple[datetime, datetime] | None:
    """From the run's first test's start to its last test's end (its failures' without tests)."""
    spans = [(i.start, i.end) for i in intervals] or [
        (f.started_at, f.finished_at) for f in failures
    ]
    return (min(s for s, _ in spans), max(e for _, e in spans)) if spans else None


def _deploy_lookback(
    live: LiveSource, logs: LogRead, span: tuple[datetime, datetime] | None
) -> LogRead:
    """`logs` with the deploys of the pulled services from `--deploy-lookback` days before the
    run to its end: one audit-log query, kept in the bundle with the rows. A read cut short is
    a warning; the deploys it gave are kept."""
    if live.deploy_lookback_days <= 0 or span is None:
        return logs
    lookback = timedelta(days=live.deploy_lookback_days)
    from fivewhys.logs.live import read_filtered

    entries, problem = read_filtered(
        live, audit_filter(live.services, span[0] - lookback, span[1]), "deploy lookback"
    )
    deploys = tuple(deploys_from_entries(entries, _revisions_in(logs.frame)))
    reach = f"the {live.deploy_lookback_days:g}-day lookback reaches (--deploy-lookback)"
    warnings = list(logs.warnings)
    if problem is not None:
        warnings.append(
            f"deploy lookback: the audit log of {', '.join(live.services)} was not read in full "
            f"({problem}): the deploys reported are the {len(deploys)} it gave"
        )
    return dataclasses.replace(logs, deploys=deploys, deploy_reach=reach, warnings=warnings)


def _revisions(
    analysis: Analysis,
    logs: LogRead,
    intervals: Sequence[RunInterval],
    failures: Sequence[Failure],
) -> tuple[RunRevisions, str | None]:
    """The deploys of the audit entries read (log files, or a pull's deploy lookback, live or
    kept in its bundle), the revisions that served the run, and how far back the audit entries
    read reach (None: none read)."""
    frame = logs.frame
    deploys = read_deploys(logs.sources, frame, _revisions_in(frame)) if analysis.logs else []
    reach = "they reach" if frame.filter(pl.col("kind") == "audit").height else None
    if logs.deploy_reach is not None:
        deploys = [*deploys, *(d for d in logs.deploys if d not in deploys)]
        reach = logs.deploy_reach
    served = run_revisions(
        frame,
        deploys,
        _run_span(intervals, failures),
        expect_revision=analysis.expect_revision,
        expect_commit=analysis.expect_commit,
    )
    return served, reach


def _revisions_in(frame: pl.DataFrame) -> list[str]:
    """The revisions that wrote the rows: what an audit entry naming only a generation is
    matched against (`deploys`)."""
    return [r for r in frame.get_column("revision").unique().to_list() if r]


def _window_query(
    window: Window, logs: LogRead, services: list[str], project: str | None, severity: str | None
) -> WindowQuery:
    """A failure window with its entries, its queries, and how pulling it went (if pulled)."""
    frame = logs.frame
    inside = frame.filter(
        (frame.get_column("timestamp") >= window.start)
        & (frame.get_column("timestamp") <= window.end)
    ).height
    status, reason = _pull_status(window, logs.pulls)
    return WindowQuery(
        start=window.start,
        end=window.end,
        entries=inside,
        queries=window_queries(window, services, project, severity),
        status=status,
        reason=reason,
    )


def _pull_status(
    window: Window, pulls: Sequence[PullInfo]
) -> tuple[WindowStatus | None, str | None]:
    """How the pulled window holding `window` was read; None when the logs are files."""
    if not pulls:
        return None, None
    pulled = [w for p in pulls for w in p.windows]
    for candidate in pulled:
        if candidate.start <= window.start and window.end <= candidate.end:
            return candidate.status, candidate.reason
    if any(c.start <= window.end and window.start <= c.end for c in pulled):
        return "partial", "the pulled windows cover only part of it (wider --before/--after?)"
    return "missing", "it lies outside the pulled windows"


def _pull_notes(pulls: Sequence[PullInfo], windows: Sequence[WindowQuery]) -> list[str]:
    """What a reader must know about pulled logs: the wait for ingestion, windows not read."""
    notes = [
        f"Waited {p.settle_wait_s:.1f} s for Cloud Logging ingestion before reading project "
        f"{p.project}."
        for p in pulls
        if p.settle_wait_s
    ]
    notes.extend(
        f"Log window {utc(w.start)} to {utc(w.end)} is {w.status}: {w.reason}. "
        "Failures in it may lack their server-side evidence."
        for w in windows
        if w.status not in (None, "complete")
    )
    return notes


def _cause_number(cause: Cause) -> int:
    return int(cause.id.lstrip("C"))


def _project(frame: pl.DataFrame) -> str | None:
    """The GCP project the logs came from (resource label, else the logName prefix)."""
    for raw in frame.get_column("raw").head(50).to_list():
        entry = json.loads(raw)
        resource = entry.get("resource") or {}
        labels = resource.get("labels") or {} if isinstance(resource, dict) else {}
        if isinstance(labels, dict) and labels.get("project_id"):
            return str(labels["project_id"])
        log_name = entry.get("logName") or entry.get("log_name") or ""
        if isinstance(log_name, str) and log_name.startswith("projects/"):
            return log_name.split("/")[1]
    return None


def _file_notes(files: Sequence[LogFileRead]) -> list[str]:
    """Per log file read: what it was read as, and how many entries were read and skipped (a
    file not read is a warning)."""
    notes = []
    for file in files:
        if file.unread is not None:
            continue
        how = file.shape if file.encoding == "UTF-8" else f"{file.shape}, {file.encoding}"
        notes.append(f"{file.path}: {file.read} entries read, {file.skipped} skipped ({how}).")
    return notes


def _unplaced(failure: Failure) -> FailureReport:
    """A failure its results place nowhere in time: listed, and no log joined to it."""
    return FailureReport(
        attempt=failure.attempt,
        passed_on=failure.passed_on,
        shard=failure.shard,
        runner_timeout_s=failure.event.runner_timeout_s,
        frames=failure.frames,
        test_id=failure.test_id,
        outcome=failure.outcome,
        message=failure.message,
        started_at=None,
        finished_at=None,
        time_exact=False,
        source=failure.source,
        test_file=failure.test_file or failure.test_id.split("::")[0],
        test_line=failure.test_line,
        cause_id=None,
        bucket="unexplained",
        confidence=0.0,
        note=(
            "Not placed in time: its results file gives no run start and no time at all, so no "
            "log entry can be joined to it. Pass --started-at with the run's start."
        ),
        covered=False,
    )


def _log_notes(logs: LogRead) -> list[str]:
    notes = [
        f"{count} log entries mapped from a non-standard shape: {how}."
        for how, count in sorted(logs.mapped.items())
    ]
    notes += [f"{count} log entries skipped: {why}." for why, count in sorted(logs.skipped.items())]
    return notes


#: phases of failures of the run itself rather than of a test
RUN_PHASES = ("collect", "session")


def _summary(
    tests_total: int,
    read: Sequence[Failure],
    failures: list[FailureReport],
    causes: list[Cause],
    windows: Sequence[WindowQuery],
) -> str:
    explained = sum(1 for f in failures if f.cause_id)
    of_run = sum(1 for f in read if f.phase in RUN_PHASES)
    run_text = f"{of_run} error(s) of the run itself (collection, import or internal errors)"
    last: dict[str, int] = {}
    for f in failures:
        last[f.test_id] = max(f.attempt, last.get(f.test_id, 0))
    # a real failure counts once, at its last attempt; its earlier attempts are not more tests
    failed = [f for f in failures if f.passed_on is None and f.attempt == last[f.test_id]]
    flaky = {f.test_id for f in failures if f.passed_on is not None}
    attempts = sum(1 for f in failures if f.passed_on is not None)
    if not tests_total:
        parts = [f"No test ran: {run_text}." if of_run else "No test ran: the results hold none."]
    else:
        parts = [f"{len(failed) - of_run} of {tests_total} tests failed."]
        if flaky:
            parts.append(
                f"{len(flaky)} flaky: failed, then passed on a rerun ({attempts} failed "
                f"attempt{'s' if attempts != 1 else ''}, each analysed below)."
            )
        if of_run:
            parts.append(f"And {run_text}.")
    if causes:
        listed = "; ".join(
            f"{c.id} {c.title} ({len(c.failures)} test{'s' if len(c.failures) != 1 else ''}, "
            f"confidence {c.confidence:.2f}, proven by {c.proof})"
            for c in causes
        )
        what = "them" if len(failures) == len(failed) else f"the {len(failures)} failed attempts"
        parts.append(f"{len(causes)} cause(s) explain {explained} of {what}: {listed}.")
    buckets = Counter(f.bucket for f in failures if not f.cause_id)
    if buckets["client-side"]:
        parts.append(
            f"{buckets['client-side']} client-side: the test's own failure, no server cause."
        )
    if buckets["server-error"]:
        parts.append(
            f"{buckets['server-error']} with server errors on their own ids that no rule explains."
        )
    unexplained = [f for f in failures if not f.cause_id and f.bucket not in BUCKETED]
    if unexplained:
        uncovered = sum(1 for f in unexplained if not f.covered)
        text = f"{len(unexplained)} unexplained: no rule matched a server line"
        if uncovered:
            text += f", and for {uncovered} of them no log entry covers the test's window"
        unplaced = sum(1 for f in unexplained if f.started_at is None)
        if unplaced:
            text += f" ({unplaced} not placed in time: pass --started-at)"
        parts.append(text + ".")
    incomplete = sum(1 for w in windows if w.status not in (None, "complete"))
    if incomplete:
        parts.append(
            f"The logs may be incomplete for {incomplete} of {len(windows)} log window(s) "
            "(see Notes)."
        )
    return " ".join(parts)
