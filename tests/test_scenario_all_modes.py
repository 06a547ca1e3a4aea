"""The all-modes scenario: a real run mixing every failure mode, attributed failure by failure.

`examples/scenarios/all-modes/generate.py` runs real apps, a real pytest suite (websockets,
httpx) and real faults; `truth.json` names, per failing test, the fault's rule and its one true
evidence line, found by the test's own ids (see the generator). These tests hold the analysis
of the committed run (and of a fresh one) to that truth.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from fivewhys.model import Report
from fivewhys.pipeline import Analysis, analyze

SCENARIO = REPO / "examples" / "scenarios" / "all-modes"
PROJECT_RULES = SCENARIO / "rules"
ONE_1011 = {"ws-factory-validation-1011", "ws-agent-handler-1011"}
CLIENT_SIDE = "client-side-test-failure"


def _analyze(out: Path, rules: bool = True, junit: bool = False) -> Report:
    results = out / "results" / ("junit.xml" if junit else "report-log.jsonl")
    logs = out / "logs" / ("sink.ndjson" if junit else "gcloud-read.json")
    return analyze(
        Analysis(results=[results], logs=[str(logs)], rule_dirs=[PROJECT_RULES] if rules else [])
    )


def _rule_of(report: Report) -> dict[str, str | None]:
    """Per test: the rule that explains it, or the fallback rule that bucketed it."""
    causes = {c.id: c.rule_id for c in report.causes}
    return {f.test_id: causes[f.cause_id] if f.cause_id else f.rule_id for f in report.failures}


def scores(report: Report, truth: dict[str, dict[str, Any]]) -> tuple[int, int, int, int]:
    """(right rule, failures, true evidence first, failures with server evidence)."""
    rules = _rule_of(report)
    lines = {f.test_id: report.lines_of(f) for f in report.failures}
    first = {test: found[0].insert_id if found else None for test, found in lines.items()}
    with_evidence = [t for t, v in truth.items() if v["insert_id"]]
    return (
        sum(rules[t] == v["rule"] for t, v in truth.items()),
        len(truth),
        sum(first[t] == truth[t]["insert_id"] for t in with_evidence),
        len(with_evidence),
    )


def _check_attribution(out: Path) -> None:
    truth: dict[str, dict[str, Any]] = json.loads((out / "truth.json").read_text())
    report = _analyze(out)
    assert {f.test_id for f in report.failures} == set(truth)
    assert len(truth) == 15
    assert scores(report, truth) == (15, 15, 13, 13)

    causes = {c.id: c for c in report.causes}
    by_test = {f.test_id: f for f in report.failures}
    for test_id, expected in truth.items():
        failure = by_test[test_id]
        if expected["rule"] == CLIENT_SIDE:
            # the test's own fault: never a server cause
            assert (failure.cause_id, failure.bucket, failure.confidence) == (
                None,
                "client-side",
                0,
            )
        elif expected["rule"] == "server-error-no-rule":
            assert (failure.cause_id, failure.bucket) == (None, "server-error")
        else:
            cause = causes[failure.cause_id or ""]
            assert failure.bucket == "cause"
            assert any(w.kind == "evidence" for w in cause.whys), test_id
            if expected["rule"] != "instance-memory-limit-exceeded":
                assert report.lines_of(failure)[0].join_key != "time", test_id
                assert failure.confidence >= 0.7, test_id
            else:  # Cloud Run's system lines carry no ids: time only, tentative
                assert report.lines_of(failure)[0].join_key == "time" and failure.confidence <= 0.4

    # the two 1011 causes: same client symptom, two rules, two causes
    ten_eleven = {c.rule_id: c.id for c in report.causes if c.rule_id in ONE_1011}
    assert set(ten_eleven) == ONE_1011 and len(set(ten_eleven.values())) == 2

    # chains: the deeper rules the truth names are confirmed, from the failing revision
    for cause in report.causes:
        expected_chain = {tuple(truth[t]["chain"]) for t in cause.failures}
        assert len(expected_chain) == 1
        (chain,) = expected_chain
        whys = [w.text for w in cause.whys]
        assert not chain or not whys[-1].startswith("Is there a deeper cause"), cause.rule_id
        if "config-env-var-missing" in chain:
            revision = cause.evidence[0].revision
            assert any(f"Revision {revision} started without a setting" in w for w in whys)


def test_the_committed_run_is_attributed_failure_by_failure() -> None:
    _check_attribution(SCENARIO)


def test_the_deploy_timeouts_are_one_cause_three_whys_deep() -> None:
    report = _analyze(SCENARIO)
    (cause,) = [c for c in report.causes if c.rule_id == "run-no-instance-timeout"]
    assert [f.rsplit("::", 1)[1] for f in cause.failures] == [
        "test_chat_after_deploy",
        "test_health_after_deploy",
    ]
    texts = [w.text for w in cause.whys if w.kind == "evidence"]
    assert any('"Container called exit(3)."' in t for t in texts)
    assert any("Revision chat-backend-00043-bad started without a setting" in t for t in texts)
    # the running revision's own warning about REDIS_HOST is not this revision's cause
    assert not any("chat-backend-00042-xaz" in t for t in texts)


def test_without_the_project_timeout_the_cut_stream_is_unexplained_not_misattributed() -> None:
    report = _analyze(SCENARIO, rules=False)
    (stream,) = [f for f in report.failures if f.test_id.endswith("test_event_stream_stays_open")]
    # the instance killed for memory in the same seconds served another test: not this one
    assert (stream.cause_id, stream.bucket) == (None, "unexplained")


def test_junit_and_sink_reach_the_same_rules() -> None:
    assert _rule_of(_analyze(SCENARIO, junit=True)) == _rule_of(_analyze(SCENARIO))


def test_the_committed_outputs_hold_no_machine_paths() -> None:
    for path in [*(SCENARIO / "results").iterdir(), *(SCENARIO / "logs").iterdir()]:
        assert str(REPO) not in path.read_text(encoding="utf-8"), path


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="the watchdog reads /proc")
def test_a_fresh_run_is_attributed_the_same_way(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCENARIO / "generate.py"), "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    _check_attribution(tmp_path)
