"""Typed records crossing stage boundaries: failures in; evidence, causes and the report out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

JoinKey = Literal["connection_id", "trace", "user_id", "time"]
"""How a log line was tied to a failure, strongest first."""

JOIN_KEYS: tuple[JoinKey, ...] = ("connection_id", "trace", "user_id", "time")


class Record(BaseModel):
    """Base of every model: immutable, and unknown fields are an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Ids(Record):
    """Correlation ids seen on one side (a failure's output, or one log line)."""

    connection_ids: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    #: bare trace ids (32 hex), without the ``projects/P/traces/`` prefix
    traces: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.connection_ids or self.user_ids or self.traces)


class RunInterval(Record):
    """When one test of a run ran (setup start to its last phase's end), failed or passed:
    correlation gives a line written inside another test's span to that test, not to a
    failure whose window only pads over it."""

    test_id: str
    start: datetime
    end: datetime
    #: which run of the test (1 the first; a rerun or another shard's run counts on)
    attempt: int = 1


class ClientEvent(Record):
    """What the client saw, as far as its exception text tells."""

    #: exception class name without module (``ConnectionClosedError``, ``ReadTimeout``)
    exception_type: str | None = None
    close_code: int | None = None
    close_reason: str | None = None
    #: ``received`` when the server closed, ``sent`` when the client did (e.g. ping timeout)
    close_direction: Literal["received", "sent"] | None = None
    #: HTTP status of a rejected handshake or an httpx status error
    http_status: int | None = None
    #: request path the client used, when the message names a URL
    url_path: str | None = None
    timeout: bool = False
    #: the User-Agent the client sent, when its output shows it (websockets' debug log)
    user_agent: str | None = None
    #: the test runner's own timeout killed the test (pytest-timeout): its limit in seconds,
    #: 0 when the results show the kill but not the limit
    runner_timeout_s: float | None = None


class Failure(Record):
    """One failed or errored test phase, as the results file tells it."""

    test_id: str = Field(description="pytest node id")
    outcome: Literal["failed", "error"]
    #: `collect`: a module that could not be collected (import error); `session`: pytest itself
    #: failed (internal or usage error): failures of the run, placed at its start
    phase: Literal["collect", "session", "setup", "call", "teardown"] = "call"
    message: str = Field(description="one-line failure message (exception type: text)")
    details: str = Field(default="", description="traceback / longrepr, captured output")
    started_at: datetime = Field(description="UTC start of the test")
    finished_at: datetime = Field(description="UTC end of the failing phase")
    time_exact: bool = Field(description="False when derived from JUnit durations")
    #: False when the results give no time at all (a JUnit file without a suite timestamp and
    #: no --started-at): the two times above are then meaningless and no log is joined
    placed: bool = True
    source: str = Field(description="results file and line/record the failure came from")
    test_file: str | None = None
    test_line: int | None = None
    ids: Ids = Ids()
    event: ClientEvent = ClientEvent()
    signature: str = Field(default="", description="masked message, for grouping")
    properties: dict[str, str] = Field(default_factory=dict)
    #: which run of the test failed (1 the first; reruns and other shards' runs count on)
    attempt: int = 1
    #: the later attempt the test passed on (a flaky test), None when it never passed
    passed_on: int | None = None
    #: the shard (results file of one run of a CI matrix) it came from, when there are several
    shard: str | None = None
    #: the test's own frames (`file:line in function`) where a runner timeout stopped it
    frames: tuple[str, ...] = ()


class Evidence(Record):
    """A server log line joined to a failure, with how and when."""

    insert_id: str
    timestamp: datetime
    service: str | None = None
    revision: str | None = None
    instance_id: str | None = None
    severity: str | None = None
    kind: str
    message: str
    template: str = ""
    http_method: str | None = None
    http_status: int | None = None
    http_path: str | None = None
    user_agent: str | None = None
    trace: str | None = None
    join_key: JoinKey
    #: seconds from the failure's end (negative: before it)
    offset_s: float
    #: rule selection that matched this line, if any
    matched: str | None = None
    #: fuzzy/regex match score 0..1 of that selection
    score: float | None = None
    link: str | None = None


class Cite(Record):
    """A failure's own tie to one line its cause lists (`Cause.evidence`, found by insert_id):
    how and when that line joined this failure, and what it matched. The line itself is listed
    once, under the cause, however many failures cite it."""

    insert_id: str
    join_key: JoinKey
    #: seconds from this failure's end (negative: before it)
    offset_s: float
    #: rule selection the line matched for this failure, and its fuzzy/regex score 0..1
    matched: str | None = None
    score: float | None = None


#: how many of a cause's lines the reports list under it (its best; `Cause.listed`)
LISTED_EVIDENCE = 10


class StackFrame(Record):
    """One frame of a server stack trace, as the trace writes it."""

    #: the file, with the image's application root (`/app/`, `/workspace/`) taken off
    file: str
    line: int
    function: str | None = None
    #: in the application's own code (not the runtime's, not an installed dependency's)
    app: bool = True

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class Traceback(Record):
    """A server stack trace stitched from the entries that hold its lines (fivewhys.tracebacks)."""

    language: Literal["python", "node", "java"]
    #: the exception the trace started with (`KeyError: 'thread_id'`)
    exception: str
    #: the exception it ended as, when a chain changed it (`RuntimeError: ...`)
    outer: str | None = None
    #: the innermost frame in the application's own code, None when the trace shows none
    raised_at: StackFrame | None = None
    #: the innermost frame of all (the runtime's or a dependency's, perhaps)
    innermost: StackFrame | None = None
    #: how many frames the trace shows
    frames: int = 0
    #: the entries its lines came from, in order
    insert_ids: tuple[str, ...]
    timestamp: datetime
    instance_id: str | None = None
    service: str | None = None
    revision: str | None = None
    #: the stitched text
    text: str = ""

    def sentence(self) -> str:
        """`raised at f.py:212 in fn: "KeyError: 'x'"`: what a why says of the trace, plain text
        (each output escapes it; a backtick here would show as one)."""
        exception = self.exception if len(self.exception) <= 200 else self.exception[:199] + "…"
        if self.raised_at is None:
            where = f" (innermost frame {self.innermost.where()})" if self.innermost else ""
            return f'"{exception}", with no frame in the application\'s own code{where}'
        frame = self.raised_at
        within = f" in {frame.function}" if frame.function else ""
        return f'raised at {frame.where()}{within}: "{exception}"'


class Deploy(Record):
    """A deploy of a Cloud Run service, from its audit log entries (fivewhys.deploys)."""

    service: str
    #: the revision it created (None when the entries read do not name it)
    revision: str | None = None
    #: the service generation it made
    generation: int | None = None
    #: when it was asked for (the Admin Activity entry)
    requested_at: datetime | None = None
    #: when its rollout ended (the System Event entry), and whether the revision became Ready
    ready_at: datetime | None = None
    ready: bool | None = None
    #: the revision that was serving when it was asked for
    previous: str | None = None
    method: str = ""
    #: who asked for it (the caller's principal e-mail)
    principal: str | None = None
    image: str | None = None
    digest: str | None = None
    #: the template's `commit-sha` label
    commit: str | None = None
    #: the template's provenance labels (`managed-by`, `gcb-build-id`, Cloud Deploy's ...)
    labels: dict[str, str] = Field(default_factory=dict)
    #: why it failed (the call's status, or the Ready condition's message)
    failure: str | None = None
    #: the audit entries it was read from
    insert_ids: tuple[str, ...] = ()

    def at(self) -> datetime | None:
        """When the revision took over: the rollout's end, else the request."""
        return self.ready_at or self.requested_at

    def describe(self) -> str:
        """`at 2026-03-02 09:00:40.000Z by x@y from commit 5d6e7f8a9b0c`: the deploy in words."""
        parts = []
        at = self.at()
        if at is not None:
            parts.append(f"at {at.strftime('%Y-%m-%d %H:%M:%S.')}{at.microsecond // 1000:03d}Z")
        if self.principal:
            parts.append(f"by {self.principal}")
        if self.commit:
            parts.append(f"from commit {self.commit[:12]}")
        elif self.labels.get("managed-by"):
            parts.append(f"by {self.labels['managed-by']} (no commit-sha label)")
        if self.ready is False:
            parts.append("never Ready")
        return " ".join(parts) or "time unknown"


class RevisionServed(Record):
    """A revision that wrote entries while the run ran, and the deploy that made it."""

    service: str | None = None
    revision: str
    entries: int
    first_seen: datetime
    last_seen: datetime
    deploy: Deploy | None = None


class RunRevisions(Record):
    """Which revisions served the run, the deploys read, and what the report says of them."""

    served: tuple[RevisionServed, ...] = ()
    #: every deploy in the audit entries read, in time order
    deploys: tuple[Deploy, ...] = ()
    #: facts stated at the top of the report (several revisions, a deploy during the run,
    #: an old revision, a revision or commit other than the one expected)
    findings: tuple[str, ...] = ()
    expected_revision: str | None = None
    expected_commit: str | None = None


class TestContact(Record):
    """Did one test (attempt) reach the server: a request log in its window, or its ids."""

    test_id: str
    attempt: int = 1
    passed: bool
    duration_s: float
    #: the logs hold entries before its start and after its end
    covered: bool
    #: None when the logs do not cover it (nothing can be said)
    reached: bool | None
    #: how: `ids` (a line joined by its connection_id, trace or user_id), `request`
    by: Literal["ids", "request"] | None = None


class SuspectCommit(Record):
    """A commit of the service's repository that touched a raising frame's file (suspects)."""

    sha: str
    subject: str
    #: `Name <e-mail>` as git records the author
    author: str
    authored_at: datetime
    #: it changed the raising line itself (`git log -L`), not only its file
    line: bool = False


class CodeSuspects(Record):
    """The raising frame in the service's repository, and the commits that touched it in the
    range the records give (`--repo`)."""

    #: the frame as the trace names it (`factory.py:212`)
    frame: str
    #: the repository path it maps to (None: none, or several: see `candidates`)
    path: str | None = None
    line: int = 0
    #: every repository path the frame's file could be, when more than one
    candidates: tuple[str, ...] = ()
    #: the commit the range starts after (None: no earlier good commit is known)
    base: str | None = None
    #: where `base` comes from: `last green run ...` or `previous deploy ...`
    base_from: str | None = None
    #: the commit the failing revision was built from (or what stood in for it)
    head: str | None = None
    head_from: str | None = None
    commits: tuple[SuspectCommit, ...] = ()
    #: why nothing (or less) could be listed: one line
    warning: str | None = None


class Regression(Record):
    """When a cause began, from the history (`--history`): the last run whose tests passed and
    the first that failed, with the revisions and commits that served them."""

    #: the last earlier run in which all of the cause's tests passed, and when it ran
    green_run: str
    green_at: datetime
    green_revisions: tuple[str, ...] = ()
    green_commit: str | None = None
    #: the first run after it with the cause (this run, when no kept run between had it)
    failing_run: str
    failing_at: datetime
    failing_revision: str | None = None
    failing_commit: str | None = None


PatternKind = Literal["one-revision", "one-instance", "concurrent", "cold-start", "after-deploy"]


class Pattern(Record):
    """A fact across a cause's failures, with its counts (fivewhys.patterns)."""

    kind: PatternKind
    #: failures it holds for, of the cause's failures
    count: int
    of: int
    text: str
    #: insert_ids it rests on
    evidence: tuple[str, ...] = ()


WhyKind = Literal["evidence", "mechanism", "question", "hypothesis"]
"""What a why rests on: `evidence` cites log lines or a client fact; `mechanism` is true by what
the rule detects (with its reference); `question` is open and names what would answer it;
`hypothesis` is a claim nothing proves (only from rules that mark none of the above: linted)."""


WhyStep = Literal["client", "server", "trace", "pattern", "revision", "regression", "commit"]
"""Which link of the chain a proven why is, in chain order (fivewhys.chain): the client's event,
the server line, the stack trace's frame, a pattern across failures, the revision and deploy,
the regression window, the suspect commit."""


class Why(Record):
    """One step of a five-whys chain, of one of the kinds in `WhyKind`."""

    text: str
    kind: WhyKind
    #: the link of the chain it is (None: the rule's own, placed by its kind)
    step: WhyStep | None = None
    #: for a rule's question: the step whose evidence answers it (then it is left out)
    answered_by: WhyStep | None = None
    evidence: tuple[str, ...] = Field(default=(), description="insert_ids cited")
    #: for evidence that is a client fact: where it was read (results file and place)
    client: str | None = None


class TimelineEvent(Record):
    """A client or server event on a cause's merged timeline."""

    at: datetime
    side: Literal["client", "server"]
    text: str
    test_id: str | None = None
    insert_id: str | None = None


Bucket = Literal["cause", "client-side", "server-error", "unexplained"]
"""Where a failure landed: a cause, a fallback bucket, or nowhere."""

#: the buckets of failures without a cause, in report order, with their headings
NO_CAUSE_BUCKETS: dict[str, str] = {
    "server-error": "Server error, no rule",
    "unexplained": "Unexplained",
    "client-side": "Client-side (the test's own failure)",
}


class FailureReport(Record):
    """A failure as reported: its cause (if any) and its evidence, best first."""

    test_id: str
    outcome: str
    message: str
    #: None when the results place the failure nowhere in time (see `Failure.placed`)
    started_at: datetime | None
    finished_at: datetime | None
    time_exact: bool
    source: str
    #: the test's file and 1-based line, for annotations (when the results name them)
    test_file: str | None = None
    test_line: int | None = None
    cause_id: str | None
    #: where the failure landed: a cause, a fallback bucket, or nowhere (unexplained)
    bucket: Bucket = "unexplained"
    #: the rule that gave the cause or filed the failure into its bucket
    rule_id: str | None = None
    confidence: float
    #: with a cause: the lines that prove it for this failure, best first, each listed once in
    #: its cause's `evidence` (Report.lines_of gives them whole)
    cites: tuple[Cite, ...] = ()
    #: without a cause: its best candidate lines (not proof), whole, best first
    candidates: tuple[Evidence, ...] = ()
    #: why the confidence is what it is, or why nothing explains the failure
    note: str
    #: False when no log line at all falls in the failure's window
    covered: bool
    #: which run of the test failed (1 the first; reruns and other shards' runs count on)
    attempt: int = 1
    #: the later attempt the test passed on: the test is flaky; None when it never passed
    passed_on: int | None = None
    #: the shard it came from, when the run's results are several shards
    shard: str | None = None
    #: the test runner's timeout killed it (pytest-timeout): its limit in seconds (0: unknown)
    runner_timeout_s: float | None = None
    #: the test's own frames where that timeout stopped it, outermost first
    frames: tuple[str, ...] = ()

    def run_note(self) -> str:
        """How this attempt ran, in words every format shows beside the test: flaky or which
        attempt, which shard, stopped by the runner's timeout where; empty for a plain run."""
        parts = []
        if self.passed_on is not None:
            parts.append(
                f"flaky: attempt {self.attempt} failed, passed on attempt {self.passed_on}"
            )
        elif self.attempt > 1:
            parts.append(f"attempt {self.attempt}")
        if self.shard:
            parts.append(f"shard {self.shard}")
        if self.runner_timeout_s is not None:
            limit = f" after {self.runner_timeout_s:g} s" if self.runner_timeout_s else ""
            where = f" in {', '.join(self.frames)}" if self.frames else ""
            parts.append(f"stopped by the test runner's timeout (pytest-timeout){limit}{where}")
        return "; ".join(parts)


class Cause(Record):
    """A root cause: one rule, one evidence template, the failures it explains."""

    id: str
    rule_id: str
    title: str
    level: str
    failures: tuple[str, ...]
    confidence: float
    #: the strongest join behind the cause, in words ("connection_id", "time only", ...)
    proof: str
    whys: tuple[Why, ...]
    #: the lines that matched the rule's selections, across its failures, best first, each
    #: once: its best `LISTED_EVIDENCE` (what the reports list under it), then every other line
    #: one of its failures cites (`FailureReport.cites`); how a line joined and what it matched
    #: are the first failure's that has it
    evidence: tuple[Evidence, ...]
    timeline: tuple[TimelineEvent, ...]
    fix: str | None = None
    references: tuple[str, ...] = ()
    #: across runs (with --history): new, recurring since when, or back after a fix
    history: str | None = None
    #: rests on a line joined by time only (corroborated, capped): `proof` says by what
    tentative: bool = False
    #: no named rule: the keyed ERROR line just before the failure, titled by its template
    generic: bool = False
    #: every failure it explains is an attempt of a test that passed on a rerun (flaky)
    intermittent: bool = False
    #: how many of its failures are attempts of flaky tests
    flaky: int = 0
    #: the server's stack traces of its evidence, stitched, the one its why names first
    tracebacks: tuple[Traceback, ...] = ()
    #: the revisions that wrote its evidence, most lines first
    revisions: tuple[str, ...] = ()
    #: the raising frame in the service's repository and the commits that touched it (--repo)
    suspects: CodeSuspects | None = None
    #: the last green run of its tests and the first failing one (--history)
    regression: Regression | None = None
    #: what all its failures share (one revision or instance, concurrency, cold start, a deploy)
    patterns: tuple[Pattern, ...] = ()

    def listed(self) -> tuple[Evidence, ...]:
        """Its best lines, the ones the reports list under it (and its deeper whys read)."""
        return self.evidence[:LISTED_EVIDENCE]


class Window(Record):
    """A time range the logs were (or should be) read for."""

    start: datetime
    end: datetime


WindowStatus = Literal["complete", "unsettled", "partial", "missing"]
"""How reading a window from the Cloud Logging API went: `unsettled` means read, but entries past
its end were not yet readable when the wait for ingestion ended; `partial` means the read broke
off after some pages; `missing` means nothing could be read."""


class LogQuery(Record):
    """One Cloud Logging query, and how a user runs it again."""

    filter: str
    gcloud_command: str
    #: None when the project is unknown
    explorer_link: str | None = None


class PulledWindow(Record):
    """How reading one coalesced window from the Cloud Logging API went."""

    start: datetime
    end: datetime
    status: WindowStatus
    #: why the window is not complete, in words
    reason: str | None = None
    entries: int = 0
    pages: int = 0
    #: when its read finished (None when nothing was read)
    pulled_at: datetime | None = None
    #: how long the pull waited for ingestion to settle before reading
    settle_wait_s: float = 0.0


class BigQueryScan(Record):
    """What a BigQuery read was: the dataset, its layout and tables, what it scanned and gave."""

    dataset: str
    layout: str
    tables: tuple[str, ...]
    bytes_scanned: int
    rows: int
    #: 2 when a second query read whole the windows of failures no rule explains
    queries: int = 1


class PullInfo(Record):
    """One pull from the Cloud Logging API (or one query of logs routed to BigQuery); a bundle
    keeps it, so a re-read reports the same."""

    project: str
    services: tuple[str, ...]
    severity: str | None = None
    #: None for the Google endpoint, else the `--api-endpoint` used
    api_endpoint: str | None = None
    #: all windows at once (the queries sent are per window, each within the API's limit)
    filter: str
    pulled_at: datetime
    settle_wait_s: float = 0.0
    windows: tuple[PulledWindow, ...] = ()
    #: set when the entries came from BigQuery (`filter` is then the SQL sent)
    bigquery: BigQueryScan | None = None


class WindowQuery(Record):
    """One coalesced failure window: the entries in it, its queries, and how reading it went."""

    start: datetime
    end: datetime
    #: log entries (of all sources) whose time lies in the window
    entries: int
    queries: tuple[LogQuery, ...]
    #: for pulled logs; None for log files
    status: WindowStatus | None = None
    reason: str | None = None


class QueryInfo(Record):
    """How the logs were read, and how to read them again."""

    sources: tuple[str, ...]
    filter: str
    gcloud_command: str
    windows: tuple[Window, ...]
    project: str | None = None
    #: per coalesced window, in time order
    per_window: tuple[WindowQuery, ...] = ()
    #: pulls from the Cloud Logging API (live, or the metadata of the bundles read)
    pulls: tuple[PullInfo, ...] = ()


class LogFileRead(Record):
    """How one log file was read: its shape and encoding, entries read and skipped, or why not."""

    path: str
    #: what the file was read as: "JSON array", "NDJSON", "a single LogEntry object", ...
    shape: str
    encoding: str = "UTF-8"
    #: entries that became rows (before entries repeated across files are dropped)
    read: int = 0
    skipped: int = 0
    #: why nothing of the file could be used; the analysis went on with the other files
    unread: str | None = None


class Report(Record):
    """The whole analysis, what every renderer receives."""

    schema_version: str
    tool_version: str
    #: one paragraph fit for a ticket description
    summary: str
    results: tuple[str, ...]
    tests_total: int
    failures: tuple[FailureReport, ...]
    causes: tuple[Cause, ...]
    query: QueryInfo
    log_entries: int
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    #: why no log could be read at all, when the run went on without logs (`fivewhys ci`)
    logs_unread: str | None = None
    #: per log file: how it was read, entries read and skipped, or why it was not
    log_files: tuple[LogFileRead, ...] = ()
    #: the shards (results of one run's CI matrix) the run was read from, when several
    shards: tuple[str, ...] = ()
    #: what the report says first: facts of the whole run (no test reached the server, the
    #: revisions that served it, an expected revision or commit it did not get)
    headline: tuple[str, ...] = ()
    #: which revisions served the run, and the deploys read from the audit entries
    revisions: RunRevisions = RunRevisions()
    #: per test attempt, passed ones too: did it reach the server (fivewhys.contact)
    contacts: tuple[TestContact, ...] = ()
    #: when the run's first test started (a green run has no failure to tell it)
    run_started_at: datetime | None = None
    #: the tests that passed (on some attempt), sorted: what the history compares across runs
    tests_passed: tuple[str, ...] = ()

    def unreached_passes(self) -> list[TestContact]:
        """Tests that passed while no request of theirs reached the server."""
        return [c for c in self.contacts if c.passed and c.reached is False]

    def failures_of(self, cause_id: str) -> list[FailureReport]:
        """The failures (attempts) a cause explains, in report order."""
        return [failure for failure in self.failures if failure.cause_id == cause_id]

    def lines_of(self, failure: FailureReport) -> tuple[Evidence, ...]:
        """A failure's lines whole, as it alone sees them: its cited lines from its cause's
        `evidence` with its own join, offset and match; its candidates when it has no cause."""
        if failure.cause_id is None:
            return failure.candidates
        cause = next(c for c in self.causes if c.id == failure.cause_id)
        by_id = {line.insert_id: line for line in cause.evidence}
        return tuple(
            by_id[cite.insert_id].model_copy(update=cite.model_dump()) for cite in failure.cites
        )

    def flaky_tests(self) -> list[str]:
        """Tests that failed and then passed on a later attempt, sorted."""
        return sorted({f.test_id for f in self.failures if f.passed_on is not None})

    def failed_tests(self) -> list[str]:
        """Tests that failed and never passed (real failures), sorted."""
        return sorted({f.test_id for f in self.failures if f.passed_on is None})

    def without_cause(self) -> dict[str, list[FailureReport]]:
        """Failures no cause explains, by bucket (report order), empty buckets left out."""
        grouped: dict[str, list[FailureReport]] = {bucket: [] for bucket in NO_CAUSE_BUCKETS}
        for failure in self.failures:
            if failure.cause_id is None:
                grouped[failure.bucket if failure.bucket != "cause" else "unexplained"].append(
                    failure
                )
        return {bucket: found for bucket, found in grouped.items() if found}

    def counts_line(self) -> str:
        """`4 failure(s), 3 cause(s); 1 client-side`: what a terminal line says of a run."""
        line = f"{len(self.failures)} failure(s), {len(self.causes)} cause(s)"
        if flaky := self.flaky_tests():
            line += f", {len(flaky)} flaky test(s)"
        rest = [f"{len(found)} {bucket}" for bucket, found in self.without_cause().items()]
        return line + ("; " + ", ".join(rest) if rest else "")
