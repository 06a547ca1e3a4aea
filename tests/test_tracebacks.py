"""Server stack traces stitched into one piece of evidence, with the application's raising frame.

The traces are real: raised by CPython, Node and the JVM here, their stderr cut into one Cloud
Run entry per line the way Cloud Run keeps unstructured stderr (the shape of the node-chat
scenario's crashed revision, examples/scenarios/node-chat/logs/sink.ndjson, entries with
`textPayload` per line of Node's uncaught-exception report, and of the real capture in
tests/data/logs/real/cloudrun-entries.ndjson, whose gunicorn tracebacks are whole entries).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fivewhys.deeper import with_tracebacks
from fivewhys.logs.files import read_log_files
from fivewhys.model import Cause, Evidence, Traceback, Why
from fivewhys.tracebacks import find_tracebacks

DATA = Path(__file__).parent / "data" / "logs" / "real" / "cloudrun-entries.ndjson"
NODE_CHAT = Path(__file__).parents[1] / "examples" / "scenarios" / "node-chat" / "logs"
T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
INSTANCE_A = "0069c7a988" + "a" * 60
INSTANCE_B = "0069c7a988" + "b" * 60


def _entry(text: str, at: datetime, number: int, instance: str = INSTANCE_A) -> dict[str, Any]:
    """One Cloud Run stderr entry holding one line (no severity: Cloud Run sets none)."""
    return {
        "insertId": f"{number:016x}",
        "labels": {"instanceId": instance},
        "logName": "projects/acme-staging/logs/run.googleapis.com%2Fstderr",
        "receiveTimestamp": (at + timedelta(seconds=1)).isoformat().replace("+00:00", "Z"),
        "resource": {
            "type": "cloud_run_revision",
            "labels": {
                "project_id": "acme-staging",
                "service_name": "chat-backend",
                "revision_name": "chat-backend-00215-dhj",
                "location": "us-central1",
                "configuration_name": "chat-backend",
            },
        },
        "textPayload": text,
        "timestamp": at.isoformat().replace("+00:00", "Z"),
    }


def _split(text: str, start: datetime = T0, first: int = 1, **kw: Any) -> list[dict[str, Any]]:
    """`text` as Cloud Run keeps stderr: one entry per line, microseconds apart; an empty line
    makes no entry (node-chat's Node report has none between its caret and its error line)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return [
        _entry(line, start + timedelta(microseconds=7 * n), first + n, **kw)
        for n, line in enumerate(lines)
    ]


def _traces(tmp_path: Path, entries: list[dict[str, Any]]) -> list[Traceback]:
    path = tmp_path / "logs.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    return find_tracebacks(read_log_files([str(path)]).frame)


PY_APP = """
import json

def validate_context(message):
    context = json.loads(message)
    return context["thread_id"]

def on_connect(message):
    return validate_context(message)
"""


def _python_trace() -> str:
    """A real CPython traceback through a frame of the app and one of the standard library."""
    scope: dict[str, Any] = {}
    exec(compile(PY_APP, "/app/app/ws/factory.py", "exec"), scope)
    try:
        scope["on_connect"]('{"user": 1}')
    except KeyError:
        return traceback.format_exc()
    raise AssertionError("the app did not raise")


def test_python_trace_split_over_stderr_entries_is_one_piece(tmp_path: Path) -> None:
    text = _python_trace()
    entries = _split(text)
    [trace] = _traces(tmp_path, entries)
    assert trace.language == "python"
    assert trace.insert_ids == tuple(e["insertId"] for e in entries)
    assert trace.raised_at is not None
    assert trace.raised_at.file == "app/ws/factory.py"
    assert trace.raised_at.function == "validate_context"
    assert trace.exception == "KeyError: 'thread_id'"
    assert trace.sentence() == (
        "raised at app/ws/factory.py:6 in validate_context: \"KeyError: 'thread_id'\""
    )


def test_node_uncaught_exception_split_over_stderr_entries(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    app = tmp_path / "srv" / "server.js"
    app.parent.mkdir()
    app.write_text(
        "function verifyToken(t) {\n  if (!t.sub) {\n    throw new TypeError('token has no sub');\n"
        "  }\n}\nfunction onConnection() { verifyToken({}); }\nonConnection();\n",
        encoding="utf-8",
    )
    done = subprocess.run([node, str(app)], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "TypeError: token has no sub" in done.stderr
    entries = _split(done.stderr)
    [trace] = _traces(tmp_path, entries)
    assert trace.language == "node"
    assert trace.insert_ids == tuple(e["insertId"] for e in entries)  # preface and version too
    assert trace.raised_at is not None
    assert (trace.raised_at.file, trace.raised_at.line) == (str(app), 3)
    assert trace.raised_at.function == "verifyToken"
    assert trace.exception == "TypeError: token has no sub"


JAVA_APP = """
package com.acme.chat;

public class Main {
    static String threadOf(java.util.Map<String, String> ctx) {
        return ctx.get("thread_id").trim();
    }
    static void validate(java.util.Map<String, String> ctx) {
        try {
            threadOf(ctx);
        } catch (NullPointerException e) {
            throw new IllegalStateException("context invalid", e);
        }
    }
    public static void main(String[] args) {
        validate(new java.util.HashMap<>());
    }
}
"""


def test_java_trace_with_cause_split_over_stderr_entries(tmp_path: Path) -> None:
    java = shutil.which("java")
    if java is None:
        pytest.skip("java is not installed")
    source = tmp_path / "Main.java"
    source.write_text(JAVA_APP, encoding="utf-8")
    done = subprocess.run([java, str(source)], capture_output=True, text=True, check=False)
    assert "IllegalStateException" in done.stderr, done.stderr
    entries = _split(done.stderr)
    [trace] = _traces(tmp_path, entries)
    assert trace.language == "java"
    assert trace.exception.startswith("java.lang.NullPointerException")
    assert trace.outer == "java.lang.IllegalStateException: context invalid"
    assert trace.raised_at is not None
    assert trace.raised_at.file == "Main.java" and trace.raised_at.line == 6
    assert trace.raised_at.function == "com.acme.chat.Main.threadOf"


def test_a_whole_trace_in_one_entry_and_its_chain(tmp_path: Path) -> None:
    """The real capture: gunicorn's traceback chain, each traceback one entry, ms apart."""
    traces = find_tracebacks(read_log_files([str(DATA)]).frame)
    chained = [t for t in traces if t.outer is not None]
    assert len(chained) == 1
    trace = chained[0]
    assert trace.exception.startswith("ModuleNotFoundError: No module named")
    assert trace.outer is not None and trace.outer.startswith("RuntimeError: Failed to setup")
    assert trace.raised_at is not None
    where = "netra_backend/app/middleware/gcp_auth_context_middleware.py:23"
    assert trace.raised_at.where() == where
    # the gunicorn frames of the last traceback are the runtime's, never named
    assert all("site-packages" not in t.raised_at.file for t in traces if t.raised_at)


def test_a_structured_stack_field_is_read(tmp_path: Path) -> None:
    """pino's `stack_trace` beside `err` (node-chat's real logger config), in one entry."""
    traces = find_tracebacks(read_log_files([str(NODE_CHAT / "sink.ndjson")]).frame)
    named = {t.raised_at.where() for t in traces if t.raised_at}
    assert {"server.js:276", "server.js:307", "server.js:87"} <= named
    refused = [t for t in traces if t.exception.startswith("Error: connect ECONNREFUSED")]
    assert refused and all(t.raised_at is None for t in refused)
    assert "no frame in the application's own code" in refused[0].sentence()


def test_two_instances_interleaved_are_two_traces(tmp_path: Path) -> None:
    first = _split(_python_trace(), first=1, instance=INSTANCE_A)
    second = _split(_python_trace(), T0 + timedelta(microseconds=3), 100, instance=INSTANCE_B)
    traces = _traces(tmp_path, sorted(first + second, key=lambda e: e["timestamp"]))
    assert len(traces) == 2
    assert {t.insert_ids for t in traces} == {
        tuple(e["insertId"] for e in first),
        tuple(e["insertId"] for e in second),
    }
    assert {t.instance_id for t in traces} == {INSTANCE_A, INSTANCE_B}


def test_lines_that_look_like_frames_are_not_a_trace(tmp_path: Path) -> None:
    entries = _split(
        "Error: user not found\n"  # a header with no frame under it
        "    at least 3 retries are left\n"  # 'at' but not a frame
        '  File "settings.yaml" was reloaded\n'  # 'File' but not a Python frame
        "retry scheduled at handler (see docs)\n"
        "com.acme.Worker: started\n"  # a Java-looking exception line, no frame
    )
    assert _traces(tmp_path, entries) == []


def test_a_trace_cut_by_a_gap_of_seconds_is_not_stitched(tmp_path: Path) -> None:
    lines = _python_trace().rstrip("\n").splitlines()
    head = _split("\n".join(lines[:3]))
    tail = _split("\n".join(lines[3:]), T0 + timedelta(seconds=3), 50)
    assert _traces(tmp_path, head + tail) == []
    # the same lines without the gap are one trace
    together = _split("\n".join(lines))
    assert len(_traces(tmp_path, together)) == 1


def test_unrelated_lines_around_a_trace_are_left_out(tmp_path: Path) -> None:
    before = _entry("GET /api/threads 200", T0 - timedelta(microseconds=50), 90)
    trace = _split(_python_trace(), first=1)
    after = _entry("worker 7 ready", T0 + timedelta(milliseconds=1), 91)
    [found] = _traces(tmp_path, [before, *trace, after])
    assert found.insert_ids == tuple(e["insertId"] for e in trace)


def _cause(cause_id: str, line: Evidence) -> Cause:
    return Cause(
        id=cause_id,
        rule_id="ws-handler-error",
        title="handler error",
        level="error",
        failures=("tests/test_chat.py::test_x",),
        confidence=0.9,
        proof="connection_id",
        whys=(Why(text="the handler failed", kind="evidence", evidence=(line.insert_id,)),),
        evidence=(line,),
        timeline=(),
    )


def _line(insert_id: str, at: datetime) -> Evidence:
    return Evidence(
        insert_id=insert_id,
        timestamp=at,
        instance_id=INSTANCE_A,
        revision="chat-backend-00215-dhj",
        kind="stderr",
        message="Message handler error",
        join_key="connection_id",
        offset_s=0.0,
    )


def test_a_trace_goes_to_the_cause_whose_line_it_was_written_with(tmp_path: Path) -> None:
    """A busy instance: the trace 1 ms after C1's line is C1's; C2's line 300 ms later is not
    answered by it."""
    trace = _split(_python_trace(), T0 + timedelta(milliseconds=1), 10)
    lines = [_entry("Message handler error", T0, 1), _entry("Factory failed", T0, 2)]
    path = tmp_path / "logs.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in lines + trace), encoding="utf-8")
    frame = read_log_files([str(path)]).frame
    near = _cause("C1", _line(f"{1:016x}", T0))
    far = _cause("C2", _line(f"{2:016x}", T0 + timedelta(milliseconds=300)))
    first, second = with_tracebacks([near, far], frame)
    assert len(first.tracebacks) == 1 and second.tracebacks == ()
    assert second.whys == far.whys
    why = first.whys[1]
    assert why.kind == "evidence"
    assert (
        why.evidence
        == tuple(e["insertId"] for e in trace)[:2] + tuple(e["insertId"] for e in trace)[-3:]
    )
    assert "raised at app/ws/factory.py:6 in validate_context" in why.text
    assert "1.0 ms after 0000000000000001" in why.text


def test_only_the_runs_near_the_evidence_are_read_and_they_are_read_whole(
    tmp_path: Path,
) -> None:
    """`near`: a trace 20 s from the cause's line on its instance is not read; one written with
    is, whole, though its entries began 3.6 s before the line (a slow dump, 20 ms a line)."""
    far = _split(_python_trace(), T0 - timedelta(seconds=20), 100)
    slow = [
        dict(e, timestamp=(T0 - timedelta(seconds=3.58) + timedelta(milliseconds=20 * n))
             .isoformat().replace("+00:00", "Z"))
        for n, e in enumerate(_split(_python_trace() * 30, first=200))
    ]  # fmt: skip
    line = _entry("Message handler error", T0 + timedelta(milliseconds=1), 1)
    path = tmp_path / "logs.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in far + slow + [line]), encoding="utf-8")
    frame = read_log_files([str(path)]).frame
    every = find_tracebacks(frame)
    assert len(every) == 31  # the far one and the slow run's 30
    moments = [(INSTANCE_A, T0 + timedelta(milliseconds=1))]
    found = find_tracebacks(frame, near=([f"{1:016x}"], moments, 0.05))
    assert found == every[1:]
    # a cited line far from every moment keeps its own run
    cited = find_tracebacks(frame, near=([f"{100:016x}"], [], 0.05))
    assert cited == every[:1]
