"""Issue 13's scenario, made for real: one service, two revisions, the second with a real bug.

Everything here runs, nothing is written by hand from the code under test:
- the service's repository is made with git itself (fixed authors and dates): its first commit
  holds the bundled app (`examples/app/app.py`) with `start_agent` reading the protocol's
  `agent` key, its second commit is the bundled app as it is, the refactor that reads
  `agent_name` (a real `KeyError` for every v1 client);
- each revision is that commit's checkout (`git worktree`), started on 127.0.0.1 with the
  example's own runner (`examples/generate.py`), so the traceback's frames name files of the
  repository; its output becomes Cloud Run LogEntry JSON with the example's converter, under
  its own `resource.labels.revision_name` and instance;
- the same e2e tests (a part of `examples/e2e`, real pytest with pytest-reportlog) run against
  revision 1 (green: the run is kept with `fivewhys ci --history`) and revision 2 (red);
- each deploy is the Admin Activity `ReplaceService` entry and the System Event completion
  entry, shaped as Cloud Run writes them (tests/audit_entries.py, which cites its public
  samples), stamped with the real times of the "deploy": the request when the revision's
  process is started, Ready when it listens; the template's `commit-sha` is the commit's sha.
Then `fivewhys analyze` (the CLI, as a user runs it) on run 2 with both runs' logs, the audit
entries, `--history` and `--repo`; the report must name the failing revision, its deploy time
and commit, the raising frame, the last green revision and the suspect commit, first, each why
citing what proves it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from audit_entries import PROJECT, activity, completion
from conftest import REPO
from git_repo import commit, git


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


gen = _load(REPO / "examples" / "generate.py", "fivewhys_example_generate")

SERVICE = "chat-backend"
#: the revision before this scenario's two, which revision 1 replaces
OLDER = "chat-backend-00040-qiv"
GREEN = "chat-backend-00041-duk"
FAILING = "chat-backend-00042-xaz"
APP_FILE = "chat_backend/app.py"
APP_SOURCE = (REPO / "examples" / "app" / "app.py").read_text(encoding="utf-8")
#: the refactor, as the bundled app has it (its comment says so), and the line before it
BAD = (
    '        # Bug on purpose: protocol v1 clients send "agent"; a refactor renamed the key here.\n'
    '        agent = message["agent_name"]\n'
)
GOOD = '        agent = message["agent"]\n'
BUG_SUBJECT = "Read the agent's name from agent_name"
#: the e2e tests both runs run: three that pass on both revisions, one the refactor breaks
TESTS = (
    "examples/e2e/test_health.py::test_health_reports_ok",
    "examples/e2e/test_chat.py::test_chat_message_echo",
    "examples/e2e/test_chat.py::test_ping_round_trip",
    "examples/e2e/test_agents.py::test_agent_start_streams_events",
)
BROKEN = "examples/e2e/test_agents.py::test_agent_start_streams_events"


def _bad_line() -> int:
    """The line of `message["agent_name"]` in the bundled app: where the KeyError is raised."""
    lines = APP_SOURCE.splitlines()
    [number] = [n for n, text in enumerate(lines, 1) if text == BAD.splitlines()[1]]
    return number


# --- the service's repository ----------------------------------------------------------------


def make_repo(repo: Path) -> tuple[str, str]:
    """The good commit and the one that introduces the bug, in a new repository."""
    assert APP_SOURCE.count(BAD) == 1
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    good = commit(
        repo,
        {APP_FILE: APP_SOURCE.replace(BAD, GOOD), "README.md": "# chat-backend\n"},
        "Chat socket with agents",
        "2026-03-02T09:00:00+00:00",
        "Ada Dev",
    )
    bad = commit(repo, {APP_FILE: APP_SOURCE}, BUG_SUBJECT, "2026-03-03T14:30:00+00:00", "Bo Kim")
    return good, bad


# --- a revision: a deploy, an instance, a run ------------------------------------------------


@dataclass
class Revision:
    name: str
    commit: str
    lines: list[Any]
    started_ns: int
    audit: list[dict[str, Any]]
    suite_exit: int


def _z(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def _resource(revision: str) -> dict[str, Any]:
    labels = {**gen.RESOURCE["labels"], "revision_name": revision}
    return {**gen.RESOURCE, "labels": labels}


def _instance(revision: str) -> str:
    """An instance id of Cloud Run's length (as the example's), one per revision."""
    digest = hashlib.sha256(revision.encode()).hexdigest()
    return ("00" + digest * 3)[: len(gen.INSTANCE_ID)]


def _for_this_project(entry: dict[str, Any]) -> dict[str, Any]:
    """tests/audit_entries.py's shapes, in the example app's project."""
    moved: dict[str, Any] = json.loads(json.dumps(entry).replace(PROJECT, gen.PROJECT_ID))
    return moved


def run_suite(url: str, out: Path) -> int:
    """The chosen e2e tests, as examples/generate.py runs its suite: real pytest, report-log."""
    env = {**os.environ, "FIVEWHYS_EXAMPLE_URL": url, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    out.mkdir(parents=True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        *TESTS,
        "-q",
        "-c",
        "examples/e2e/pytest.ini",
        "--rootdir",
        str(REPO),
        "-p",
        "no:cacheprovider",
        "--report-log",
        str(out / "report-log.jsonl"),
    ]
    done = subprocess.run(
        command, cwd=REPO, env=env, timeout=120, check=False, capture_output=True, text=True
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done.returncode


def deploy_and_run(
    checkout: Path, name: str, generation: int, replaces: str, commit: str, out: Path
) -> Revision:
    """Deploy `commit` as revision `name` (audit entries stamped with the real times), run the
    tests against it, and stop it (SIGTERM, as Cloud Run scales an instance in)."""
    requested = datetime.now(UTC)
    app = gen.AppRun(app=checkout / APP_FILE)
    app.start()
    try:
        [listening] = [line for line in app.lines if "Uvicorn running on" in line.text]
        ready = _z(listening.received_ns)
        code = run_suite(app.url, out)
    finally:
        app.stop()
    digest = "sha256:" + hashlib.sha256(f"{commit}:{APP_FILE}".encode()).hexdigest()
    audit = [
        activity(requested, generation, replaces, commit, insert_id=f"act{generation}"),
        completion(ready, name, generation, commit, insert_id=f"ready{generation}", digest=digest),
    ]
    return Revision(name, commit, app.lines, app.started_ns, audit, code)


def _shaped(revision: Revision) -> list[tuple[int, dict[str, Any]]]:
    shaped: list[tuple[int, dict[str, Any]]] = gen.shape_entries(
        revision.lines,
        revision.started_ns,
        resource=_resource(revision.name),
        instance_id=_instance(revision.name),
    )
    return shaped


def write_logs(revisions: list[Revision], out: Path) -> tuple[Path, Path]:
    """The revisions' entries as `gcloud logging read --format=json` prints them (newest
    first), and their deploys' audit entries likewise, in a file of their own."""
    out.mkdir(parents=True)
    shaped = [(n, item) for n, r in enumerate(revisions) for item in _shaped(r)]
    # sequence numbers per instance, made unique across the two for the converter's order
    entries = gen.finalize_entries([(n * 1_000_000 + seq, e) for n, (seq, e) in shaped])
    logs, audit = out / "run.json", out / "audit.json"
    logs.write_text(json.dumps(list(reversed(entries)), indent=2, sort_keys=True) + "\n")
    deploys = [_for_this_project(e) for r in revisions for e in r.audit]
    deploys.sort(key=lambda e: str(e["timestamp"]), reverse=True)
    audit.write_text(json.dumps(deploys, indent=2, sort_keys=True) + "\n")
    return logs, audit


def fivewhys(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command line, as a user runs it."""
    command = [str(Path(sys.executable).with_name("fivewhys")), *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)


# --- the scenario, once for the module ---------------------------------------------------------


@dataclass
class Scenario:
    repo: Path
    good: str
    bad: str
    green: Revision
    failing: Revision
    logs: Path
    audit: Path
    history: Path
    report: dict[str, Any]
    markdown: str
    #: the JSON report's text, and the same analysis's text when run again
    json_text: str
    json_again: str
    entries: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    root = tmp_path_factory.mktemp("two-revisions")
    repo = root / "chat-backend"
    good, bad = make_repo(repo)
    checkouts = {}
    for name, sha in ((GREEN, good), (FAILING, bad)):
        checkouts[name] = root / "checkouts" / name
        git(repo, "worktree", "add", "-q", "--detach", str(checkouts[name]), sha)

    history = root / "history"
    green = deploy_and_run(checkouts[GREEN], GREEN, 41, OLDER, good, root / "run1")
    logs1, audit1 = write_logs([green], root / "logs1")
    kept = fivewhys(
        "ci",
        str(root / "run1" / "report-log.jsonl"),
        "--logs",
        str(logs1),
        "--logs",
        str(audit1),
        "--history",
        str(history),
        "--artifacts",
        str(root / "ci1"),
    )
    assert kept.returncode == 0, kept.stdout + kept.stderr

    failing = deploy_and_run(checkouts[FAILING], FAILING, 42, GREEN, bad, root / "run2")
    logs, audit = write_logs([green, failing], root / "logs")
    common = [
        "analyze",
        str(root / "run2" / "report-log.jsonl"),
        "--logs",
        str(logs),
        "--logs",
        str(audit),
        "--history",
        str(history),
        "--repo",
        str(repo),
    ]
    as_json = fivewhys(*common, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    as_md = fivewhys(*common, "--format", "md")
    assert as_md.returncode == 0, as_md.stderr
    again = fivewhys(*common, "--format", "json")
    entries = {
        str(e["insertId"]): e
        for path in (logs, audit)
        for e in json.loads(path.read_text(encoding="utf-8"))
    }
    yield Scenario(
        repo=repo,
        good=good,
        bad=bad,
        green=green,
        failing=failing,
        logs=logs,
        audit=audit,
        history=history,
        report=json.loads(as_json.stdout),
        markdown=as_md.stdout,
        json_text=as_json.stdout,
        json_again=again.stdout,
        entries=entries,
    )
    for checkout in checkouts.values():
        git(repo, "worktree", "remove", "--force", str(checkout))


def _outcomes(path: Path) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("$report_type") == "TestReport" and record["when"] == "call":
            outcomes[record["nodeid"]] = record["outcome"]
    return outcomes


def _cause(s: Scenario) -> dict[str, Any]:
    [cause] = [c for c in s.report["causes"] if BROKEN in c["failures"]]
    return cause


def _ms(moment: str) -> str:
    """A time as the report prints it: UTC to the millisecond."""
    at = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return f"{at:%Y-%m-%d %H:%M:%S}.{at.microsecond // 1000:03d}Z"


def _why(cause: dict[str, Any], step: str) -> dict[str, Any]:
    [why] = [w for w in cause["whys"] if w["step"] == step]
    return why


def _revision_of(entry: dict[str, Any]) -> str:
    return str(entry["resource"]["labels"]["revision_name"])


# --- what was made is what it says -------------------------------------------------------------


def test_revision_1_is_green_and_revision_2_fails_only_the_broken_test(s: Scenario) -> None:
    assert (s.green.suite_exit, s.failing.suite_exit) == (0, 1)
    run1 = _outcomes(s.history.parent / "run1" / "report-log.jsonl")
    run2 = _outcomes(s.history.parent / "run2" / "report-log.jsonl")
    assert run1 == dict.fromkeys(TESTS, "passed")
    assert run2 == {**dict.fromkeys(TESTS, "passed"), BROKEN: "failed"}
    # the green run was kept, as `fivewhys ci --history` keeps green runs
    [kept] = (s.history / "runs").glob("*.json")
    green = json.loads(kept.read_text(encoding="utf-8"))
    assert green["tests_passed"] == sorted(TESTS) and green["causes"] == []
    [served] = green["revisions"]["served"]
    assert (served["revision"], served["deploy"]["commit"]) == (GREEN, s.good)


def test_the_traceback_is_real_and_only_revision_2_wrote_one(s: Scenario) -> None:
    traces = [e for e in s.entries.values() if str(e.get("textPayload", "")).startswith("Trace")]
    [trace] = traces
    assert _revision_of(trace) == FAILING
    text = trace["textPayload"]
    checkout = s.history.parent / "checkouts" / FAILING / APP_FILE
    assert f'File "{checkout}", line {_bad_line()}, in handle_message' in text
    assert text.endswith("KeyError: 'agent_name'")
    # the line it names is the second commit's; the first commit's line is the good one
    bad = git(s.repo, "show", f"{s.bad}:{APP_FILE}").splitlines()[_bad_line() - 1]
    good = git(s.repo, "show", f"{s.good}:{APP_FILE}").splitlines()[_bad_line() - 1]
    assert bad.strip() == 'agent = message["agent_name"]' and bad.strip() in text
    assert good.strip() != bad.strip() and good.strip() not in text
    revisions = {_revision_of(e) for e in s.entries.values() if "audit" not in e["logName"]}
    assert revisions == {GREEN, FAILING}


# --- the report ----------------------------------------------------------------------------------


def test_one_cause_for_the_broken_test_and_none_for_the_passed_ones(s: Scenario) -> None:
    [cause] = s.report["causes"]
    assert cause["failures"] == [BROKEN]
    assert [f["test_id"] for f in s.report["failures"]] == [BROKEN]
    # its evidence is the failing revision's, none of it the green run's
    assert cause["evidence"] and all(e["revision"] == FAILING for e in cause["evidence"])


def test_the_failing_revision_its_deploy_time_and_commit(s: Scenario) -> None:
    cause = _cause(s)
    assert cause["revisions"] == [FAILING]
    [served] = s.report["revisions"]["served"]
    deploy = served["deploy"]
    ready = next(e for e in s.failing.audit if e["insertId"] == "ready42")["timestamp"]
    assert (served["revision"], deploy["commit"], deploy["previous"]) == (FAILING, s.bad, GREEN)
    assert deploy["ready_at"] == ready and deploy["insert_ids"] == ["act42", "ready42"]
    why = _why(cause, "revision")
    assert why["kind"] == "evidence"
    assert f"revision {FAILING}" in why["text"]
    assert f"deployed at {_ms(ready)}" in why["text"]
    assert f"from commit {s.bad[:12]}" in why["text"]
    assert f"it replaced {GREEN}" in why["text"]
    # it cites the deploy's two audit entries and a line the failing revision wrote
    assert {"act42", "ready42"} <= set(why["evidence"])
    lines = [i for i in why["evidence"] if not i.startswith(("act", "ready"))]
    assert lines and all(_revision_of(s.entries[i]) == FAILING for i in lines)
    assert "act41" not in why["evidence"] and "ready41" not in why["evidence"]


def test_the_raising_frame_in_the_repositorys_file(s: Scenario) -> None:
    cause = _cause(s)
    [trace] = cause["tracebacks"]
    frame = trace["raised_at"]
    checkout = s.history.parent / "checkouts" / FAILING
    assert frame["file"] == str(checkout / APP_FILE)
    assert (frame["line"], frame["function"]) == (_bad_line(), "handle_message")
    assert trace["exception"] == "KeyError: 'agent_name'" and trace["revision"] == FAILING
    why = _why(cause, "trace")
    [cited] = why["evidence"]
    assert cited == trace["insert_ids"][0]
    assert s.entries[cited]["textPayload"].startswith("Traceback (most recent call last):")
    assert f"{APP_FILE}:{_bad_line()} in handle_message" in why["text"]
    assert "KeyError: 'agent_name'" in why["text"]


def test_the_last_green_revision_from_history(s: Scenario) -> None:
    cause = _cause(s)
    found = cause["regression"]
    assert found["green_revisions"] == [GREEN] and found["green_commit"] == s.good
    assert (found["failing_revision"], found["failing_commit"]) == (FAILING, s.bad)
    assert found["failing_run"] == "this run"
    why = _why(cause, "regression")
    assert why["kind"] == "evidence"
    assert f"`{GREEN}` (commit `{s.good[:7]}`" in why["text"]
    assert f"`{FAILING}` (commit `{s.bad[:7]}`)" in why["text"]
    # it cites the kept run it read, which is there
    assert why["client"] == f"history runs/{found['green_run']}"
    assert (s.history / "runs" / found["green_run"]).is_file()


def test_the_suspect_commit_is_listed_first(s: Scenario) -> None:
    cause = _cause(s)
    found = cause["suspects"]
    assert (found["path"], found["line"]) == (APP_FILE, _bad_line())
    assert (found["base"], found["head"]) == (s.good, s.bad)
    [first] = found["commits"]  # the good commit wrote the line too, but it is the base
    assert (first["sha"], first["subject"], first["line"]) == (s.bad, BUG_SUBJECT, True)
    assert first["author"] == "Bo Kim <bo@example.com>"
    why = _why(cause, "commit")
    assert why["evidence"] == cause["tracebacks"][0]["insert_ids"][:1]
    assert f'`{s.bad[:7]}` "{BUG_SUBJECT}" by Bo Kim' in why["text"]
    assert s.good[:7] not in why["text"].split("touched it")[1]


def test_the_chain_in_order_each_why_citing_what_proves_it(s: Scenario) -> None:
    cause = _cause(s)
    steps = [w["step"] for w in cause["whys"] if w["kind"] == "evidence"]
    assert steps == ["server", "server", "trace", "revision", "regression", "commit"]
    for why in cause["whys"]:
        if why["kind"] != "evidence":
            continue
        assert why["evidence"] or why["client"], why
        assert all(i in s.entries for i in why["evidence"]), why
    # the rule's question of which line raised is answered by the trace, so it is not asked;
    # which message the test sent is still open (the trace does not say)
    questions = [w["text"] for w in cause["whys"] if w["kind"] == "question"]
    assert questions == [
        "Which message made the handler fail? The test's last sent message is in its output, "
        "and the handler error's own line may quote it."
    ]
    page = s.markdown
    for text in (FAILING, GREEN, s.bad[:7], s.good[:7], BUG_SUBJECT, "handle_message"):
        assert text in page.replace("\\_", "_"), text


def test_the_same_inputs_give_the_same_report(s: Scenario) -> None:
    assert s.json_again == s.json_text
