"""Suspect commits (issue 13 part 6): the raising frame mapped into a real git repository, and
the commits between the last good commit and the failing one that touched its file and line.

The run is the node-chat scenario's (examples/scenarios/node-chat: a real Node server whose
uncaught TypeError at `server.js:276` in `onConnection` Cloud Run kept as stderr lines); the
repository is made here with git itself, its last commit holding the scenario's real
`server.js`; deploys are audit entries shaped as Cloud Run writes them (tests/audit_entries.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from audit_entries import activity, completion
from conftest import REPO
from git_repo import commit, git

from fivewhys.chain import ORDER
from fivewhys.history import record
from fivewhys.model import Cause, Deploy, Report, RevisionServed, StackFrame
from fivewhys.pipeline import Analysis, OutputFormat, analyze, render
from fivewhys.suspects import match_path

SCENARIO = REPO / "examples" / "scenarios" / "node-chat"
SERVER = (SCENARIO / "server" / "server.js").read_text(encoding="utf-8")
RESULTS = SCENARIO / "results" / "report-log.jsonl"
LOGS = SCENARIO / "logs" / "gcloud-read.json"
FAILING = "chat-api-00017-kiv"
PREVIOUS = "chat-api-00016-abc"
RUN = datetime(2026, 12, 1, 22, 32, 30, tzinfo=UTC)
#: the line the trace names, as the scenario's server.js has it
BAD = (
    "    ws.send(JSON.stringify({ type: 'welcome', connectionId: connId, "
    "threadId: session.threadId }));"
)


def _day(n: int) -> str:
    """The n-th day of the repository's history, as git dates its commits."""
    return f"2026-11-{20 + n:02d}T10:00:00+00:00"


@pytest.fixture(scope="module")
def service_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """good (line 276 guards the session) -> a README change -> a change elsewhere in server.js
    -> the scenario's real server.js (line 276 dereferences a missing session)."""
    repo = tmp_path_factory.mktemp("svc")
    git(repo, "init", "-q", "-b", "main")
    lines = SERVER.splitlines(keepends=True)
    assert lines[275].rstrip("\n") == BAD
    good = lines.copy()
    good[275] = (
        "    if (session) ws.send(JSON.stringify({ type: 'welcome', connectionId: connId }));\n"
    )
    shas = {
        "good": commit(
            repo, {"server/server.js": "".join(good)}, "Welcome frame", _day(0), "Ada Dev"
        )
    }
    shas["docs"] = commit(
        repo, {"README.md": "chat-api\n"}, "Document the API", _day(1), "Bo Writer"
    )
    other = good.copy()
    other[9] = lines[9].rstrip("\n") + " // tuned\n"
    shas["other"] = commit(
        repo, {"server/server.js": "".join(other)}, "Tune keepalive", _day(2), "Cy Ops"
    )
    shas["bad"] = commit(
        repo, {"server/server.js": SERVER}, "Send the thread id on welcome", _day(3), "Di Feature"
    )
    return repo, shas


def _analyze(tmp_path: Path, repo: Path | None, shas: dict[str, str], **kw: object) -> Report:
    audit = [
        activity(RUN - timedelta(days=2), 16, "chat-api-00015-old", shas["good"], insert_id="a16"),
        completion(RUN - timedelta(days=2), PREVIOUS, 16, shas["good"], insert_id="c16"),
        activity(RUN - timedelta(minutes=10), 17, PREVIOUS, shas["bad"], insert_id="a17"),
        completion(RUN - timedelta(minutes=9), FAILING, 17, shas["bad"], insert_id="c17"),
    ]
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(audit), encoding="utf-8")
    return analyze(
        Analysis(results=[RESULTS], logs=[str(LOGS), str(path)], repo=repo, **kw)  # type: ignore[arg-type]
    )


def _setup_cause(report: Report) -> Cause:
    [cause] = [
        c
        for c in report.causes
        if c.tracebacks
        and c.tracebacks[0].raised_at
        == StackFrame(file="server.js", line=276, function="onConnection")
    ]
    return cause


def test_the_commit_that_changed_the_raising_line_comes_first(
    tmp_path: Path, service_repo: tuple[Path, dict[str, str]]
) -> None:
    repo, shas = service_repo
    cause = _setup_cause(_analyze(tmp_path, repo, shas))
    found = cause.suspects
    assert found is not None
    assert found.path == "server/server.js" and found.line == 276
    assert found.head == shas["bad"] and found.base == shas["good"]
    assert found.base_from == f"the commit of {PREVIOUS}, the revision it replaced"
    # the README commit did not touch the file; the keepalive one touched it, not the line
    assert [(c.sha, c.line) for c in found.commits] == [(shas["bad"], True), (shas["other"], False)]
    first = found.commits[0]
    assert first.subject == "Send the thread id on welcome"
    assert first.author == "Di Feature <di@example.com>"
    assert first.authored_at == datetime(2026, 11, 23, 10, tzinfo=UTC)
    [why] = [w for w in cause.whys if w.step == "commit"]
    assert why.kind == "evidence" and why.evidence == cause.tracebacks[0].insert_ids[:1]
    assert "`server.js:276` is `server/server.js`" in why.text
    assert "2 commit(s) after " + shas["good"][:12] in why.text
    assert "1 of them line 276 itself" in why.text
    assert f"`{shas['bad'][:7]}` 'Send the thread id on welcome' by Di Feature" in why.text
    page = render(_analyze(tmp_path, repo, shas), OutputFormat.MARKDOWN)
    assert shas["bad"][:7] in page


def test_no_repo_no_suspects_no_error(
    tmp_path: Path, service_repo: tuple[Path, dict[str, str]]
) -> None:
    report = _analyze(tmp_path, None, service_repo[1])
    assert all(c.suspects is None for c in report.causes)
    assert not any("--repo" in w for w in report.warnings)


def test_a_missing_repo_or_unknown_commit_is_one_warning(
    tmp_path: Path, service_repo: tuple[Path, dict[str, str]]
) -> None:
    report = _analyze(tmp_path, tmp_path / "nowhere", service_repo[1])
    [warning] = [w for w in report.warnings if "--repo" in w]
    assert "not read as a git repository" in warning and "\n" not in warning
    assert all(c.suspects is None for c in report.causes)

    stranger = tmp_path / "other"
    stranger.mkdir()
    git(stranger, "init", "-q")
    commit(stranger, {"x.txt": "x\n"}, "unrelated", _day(0), "Ed Else")
    report = _analyze(tmp_path, stranger, service_repo[1])
    cause = _setup_cause(report)
    assert cause.suspects is not None and cause.suspects.commits == ()
    assert f"commit {service_repo[1]['bad']}: not in the repository" in (
        cause.suspects.warning or ""
    )
    assert any(w.startswith(f"{cause.id}: --repo: commit ") for w in report.warnings)
    [why] = [w for w in cause.whys if w.step == "commit"]
    assert why.kind == "question"


def test_with_no_earlier_commit_known_the_range_is_open(
    tmp_path: Path, service_repo: tuple[Path, dict[str, str]]
) -> None:
    """No deploy read at all: the range ends at the checkout's HEAD and has no start."""
    repo, shas = service_repo
    report = analyze(Analysis(results=[RESULTS], logs=[str(LOGS)], repo=repo))
    found = _setup_cause(report).suspects
    assert found is not None and found.base is None and found.head == shas["bad"]
    assert found.head_from is not None and "HEAD" in found.head_from
    # the first commit wrote line 276 (its guarded form), the keepalive one did not touch it
    assert [c.sha for c in found.commits] == [shas["bad"], shas["good"], shas["other"]]
    assert [c.line for c in found.commits] == [True, True, False]
    [why] = [w for w in _setup_cause(report).whys if w.step == "commit"]
    assert "the range is open" in why.text


def test_path_matching_by_the_longest_tail() -> None:
    paths = ["server/server.js", "tools/server.js", "app/ws/factory.py", "ws/factory.py"]
    assert match_path(StackFrame(file="server.js", line=1), paths) == [
        "server/server.js",
        "tools/server.js",
    ]  # ambiguous: both end in server.js
    assert match_path(StackFrame(file="app/ws/factory.py", line=1), paths) == ["app/ws/factory.py"]
    assert match_path(StackFrame(file="/opt/venv/x/ws/factory.py", line=1), paths) == [
        "ws/factory.py"
    ]
    assert match_path(StackFrame(file="factory.pyc", line=1), paths) == []  # near miss
    java = StackFrame(file="Handler.java", line=9, function="com.acme.chat.Handler.handle")
    assert match_path(java, ["src/main/java/com/acme/chat/Handler.java", "old/Handler.java"]) == [
        "src/main/java/com/acme/chat/Handler.java"
    ]


def test_the_last_green_runs_commit_starts_the_range(
    tmp_path: Path, service_repo: tuple[Path, dict[str, str]]
) -> None:
    """With --history, a green run served from the keepalive commit: only the later commit is
    in the range, and the why says where the range starts."""
    repo, shas = service_repo
    now = _analyze(tmp_path, None, shas)
    start = now.run_started_at
    assert start is not None
    at = start - timedelta(days=1)
    served = RevisionServed(
        service="chat-api",
        revision=PREVIOUS,
        entries=10,
        first_seen=at,
        last_seen=at,
        deploy=Deploy(service="chat-api", revision=PREVIOUS, commit=shas["other"]),
    )
    green = now.model_copy(
        update={
            "failures": (),
            "causes": (),
            "run_started_at": at,
            "tests_passed": tuple(sorted({*now.tests_passed, *(f.test_id for f in now.failures)})),
            "revisions": now.revisions.model_copy(update={"served": (served,)}),
        }
    )
    record(render(green, OutputFormat.JSON), green, tmp_path / "hist")
    cause = _setup_cause(_analyze(tmp_path, repo, shas, history=tmp_path / "hist"))
    found = cause.suspects
    assert found is not None and found.base == shas["other"]
    assert found.base_from is not None and found.base_from.startswith("the last green run's")
    assert [c.sha for c in found.commits] == [shas["bad"]]
    assert cause.regression is not None and cause.regression.green_commit == shas["other"]
    # the chain (part 8): proven links in order, the rule's mechanisms after the trace, the
    # open questions last; each why labelled
    steps = [(w.kind, w.step) for w in cause.whys]
    proven = [s for k, s in steps if k == "evidence"]
    assert proven == sorted(proven, key=ORDER.index)
    assert {"server", "trace", "pattern", "revision", "regression", "commit"} <= set(proven)
    kinds = [k for k, _ in steps]
    assert kinds.index("question") > max(n for n, k in enumerate(kinds) if k != "question")
    assert steps[-1 - kinds[::-1].index("evidence")] == ("evidence", "commit")
    mechanism = kinds.index("mechanism")
    assert steps[mechanism - 1][1] == "trace" and steps[mechanism + 1][1] == "pattern"
