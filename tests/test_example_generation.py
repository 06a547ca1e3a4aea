"""The bundled example regenerates end to end, and its outputs agree with each other.

``examples/generate.py`` runs a real app, a real e2e suite and real background traffic; these
tests check the demo data it produces (and the committed copy) is what fivewhys' own tests and
docs rely on: four failures of known kinds, logs in both orders, and a truth file whose evidence
lines carry the failing test's own ids rather than another user's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from defusedxml import ElementTree

from fivewhys.pipeline import Analysis, analyze

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
E2E = "examples/e2e/"

#: Failing node id -> (exception in the JUnit message, text in it, rule, evidence message text).
EXPECTED: dict[str, tuple[str, str, str | None, str | None]] = {
    E2E + "test_chat.py::test_chat_thread_bootstraps": (
        "websockets.exceptions.ConnectionClosedError",
        "received 1011 (internal error) Internal error",
        "ws-factory-validation-1011",
        "Factory SSOT validation failed: user context missing 'thread_id'",
    ),
    E2E + "test_session.py::test_expired_session_can_reconnect": (
        "websockets.exceptions.InvalidStatus",
        "server rejected WebSocket connection: HTTP 403",
        "ws-handshake-auth-403",
        "WebSocket auth rejected: JWT expired for user_id=",
    ),
    E2E + "test_agents.py::test_agent_start_streams_events": (
        "websockets.exceptions.ConnectionClosedOK",
        "received 1000 (OK) main cleanup",
        "ws-handler-error-main-cleanup",
        "Message handler error: KeyError('agent_name')",
    ),
    E2E + "test_chat.py::test_ping_reply_format": ("AssertionError", "timestamp", None, None),
}


def _junit_failures(junit: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """Node id -> (failure message, recorded properties) for every failed testcase."""
    failures: dict[str, tuple[str, dict[str, str]]] = {}
    for case in ElementTree.parse(junit).iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            continue
        nodeid = f"{case.get('file')}::{case.get('name')}"
        props = {str(p.get("name")): str(p.get("value")) for p in case.iter("property")}
        failures[nodeid] = (str(failure.get("message", "")), props)
    return failures


def _check_outputs(out: Path) -> None:
    junit = _junit_failures(out / "results" / "junit.xml")
    assert set(junit) == set(EXPECTED)
    for nodeid, (exc_type, text, _, _) in EXPECTED.items():
        message = junit[nodeid][0]
        assert message.startswith(f"{exc_type}: "), (nodeid, message)
        assert text in message, (nodeid, message)

    reports = [
        json.loads(line)
        for line in (out / "results" / "report-log.jsonl").read_text().splitlines()
        if line.strip()
    ]
    kinds = [r["$report_type"] for r in reports]
    assert kinds[0] == "SessionStart" and kinds[-1] == "SessionFinish"
    failed_calls = {
        r["nodeid"]: r
        for r in reports
        if r["$report_type"] == "TestReport" and r["outcome"] == "failed"
    }
    assert set(failed_calls) == set(EXPECTED)
    for nodeid, report in failed_calls.items():
        captured = "".join(body for _, body in report["sections"])
        assert f"trace={junit[nodeid][1]['trace']}" in captured, nodeid

    newest_first: list[dict[str, Any]] = json.loads((out / "logs" / "gcloud-read.json").read_text())
    oldest_first = [
        json.loads(line) for line in (out / "logs" / "sink.ndjson").read_text().splitlines()
    ]
    stamps = [e["timestamp"] for e in oldest_first]
    assert stamps == sorted(stamps)
    assert oldest_first == list(reversed(newest_first))
    by_insert_id = {e["insertId"]: e for e in oldest_first}
    assert len(by_insert_id) == len(oldest_first), "insertIds must be unique"

    truth: dict[str, dict[str, str | None]] = json.loads((out / "truth.json").read_text())
    assert set(truth) == set(EXPECTED)
    evidence_ids: set[str] = set()
    for nodeid, (_, _, rule, evidence) in EXPECTED.items():
        assert truth[nodeid]["rule"] == rule, nodeid
        insert_id = truth[nodeid]["insert_id"]
        if evidence is None:
            assert insert_id is None, nodeid
            continue
        assert insert_id is not None and insert_id in by_insert_id, nodeid
        evidence_ids.add(insert_id)
        entry = by_insert_id[insert_id]
        payload = entry["jsonPayload"]
        recorded = junit[nodeid][1]
        assert evidence in payload["message"], (nodeid, payload["message"])
        assert entry["trace"] == f"projects/fivewhys-example/traces/{recorded['trace']}"
        assert payload["user_id"] == recorded["user_id"]
        if "connection_id" in recorded:
            assert payload["connection_id"] == recorded["connection_id"]
        else:  # The 403: no connection ever existed, so nothing on the server may name one.
            assert "connection_id" not in payload

    # Other users hit the same bugs: the evidence templates also appear with foreign ids.
    recorded_ids = {v for _, props in junit.values() for v in props.values()}
    foreign = [
        e
        for e in oldest_first
        if e["insertId"] not in evidence_ids
        and e["severity"] == "ERROR"
        and str(e.get("jsonPayload", {}).get("message", "")).startswith(
            "Factory SSOT validation failed"
        )
        and e["jsonPayload"]["connection_id"] not in recorded_ids
    ]
    assert foreign, "expected another user's Factory SSOT error as noise"


def test_generate_produces_consistent_demo_data(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "generate.py"), "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    _check_outputs(tmp_path)
    _check_attribution(tmp_path)


def _check_attribution(out: Path) -> None:
    """A fresh run is analysed right: each server-caused failure has its true line first."""
    truth = json.loads((out / "truth.json").read_text())
    report = analyze(
        Analysis(
            results=[out / "results" / "report-log.jsonl"],
            logs=[str(out / "logs" / "gcloud-read.json")],
        )
    )
    rules = {cause.id: cause.rule_id for cause in report.causes}
    for failure in report.failures:
        expected = truth[failure.test_id]
        if expected["rule"] is None:
            assert failure.cause_id is None and failure.bucket == "client-side"
            continue
        assert failure.cause_id is not None, failure.test_id
        assert rules[failure.cause_id] == expected["rule"]
        assert failure.cites[0].insert_id == expected["insert_id"]


def test_committed_demo_data_is_consistent() -> None:
    _check_outputs(EXAMPLES)
    _check_attribution(EXAMPLES)
