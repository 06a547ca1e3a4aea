"""Patterns across a cause's failures (issue 13 part 4): each stated with its counts only when
they show it, each with its near miss.

Cloud Run's start line is the text it writes to `run.googleapis.com/varlog/system` when it
starts an instance (`Starting new instance. Reason: AUTOSCALING - Instance started due to
configured scaling factors (e.g. CPU utilization, request throughput, etc.) or no existing
capacity for current traffic.`, as public captures quote it; the real capture in
tests/data/logs/real/ holds that file's `Container called exit(3).`, with `labels.instanceId`).
The node-chat scenario (a real Node server behind the scenario's Cloud Run emulation) is checked
end to end: its no-instance-ready cause is the one that shows a cold start.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
from conftest import REPO, at, make_frame

from fivewhys.model import (
    Cause,
    Cite,
    Deploy,
    Evidence,
    FailureReport,
    RevisionServed,
    RunInterval,
    RunRevisions,
    Why,
)
from fivewhys.patterns import with_patterns
from fivewhys.pipeline import Analysis, analyze

START = (
    "Starting new instance. Reason: AUTOSCALING - Instance started due to configured scaling "
    "factors (e.g. CPU utilization, request throughput, etc.) or no existing capacity for "
    "current traffic."
)


def _line(insert_id: str, when: datetime, instance: str, revision: str = "r-1") -> Evidence:
    return Evidence(
        insert_id=insert_id,
        timestamp=when,
        instance_id=instance,
        revision=revision,
        kind="stderr",
        message="handler failed",
        join_key="connection_id",
        offset_s=0.0,
    )


#: a failure as the pipeline gives it to the patterns: its report, and its best lines whole
Failed = tuple[FailureReport, Evidence]


def _failure(test: str, start: float, line: Evidence) -> Failed:
    cite = Cite(insert_id=line.insert_id, join_key=line.join_key, offset_s=line.offset_s)
    report = FailureReport(
        test_id=test,
        outcome="failed",
        message="boom",
        started_at=at(start),
        finished_at=at(start + 1),
        time_exact=True,
        source="r.jsonl:1",
        cause_id="C1",
        bucket="cause",
        confidence=0.9,
        cites=(cite,),
        note="",
        covered=True,
    )
    return report, line


def _cause(failures: list[Failed]) -> Cause:
    return Cause(
        id="C1",
        rule_id="r",
        title="t",
        level="error",
        failures=tuple(f.test_id for f, _ in failures),
        confidence=0.9,
        proof="connection_id",
        whys=(Why(text="the handler failed", kind="evidence"),),
        evidence=tuple(line for _, line in failures),
        timeline=(),
    )


def _span(test: str, start: float, end: float) -> RunInterval:
    return RunInterval(test_id=test, start=at(start), end=at(end))


def _run(
    failures: list[Failed],
    intervals: list[RunInterval],
    frame: pl.DataFrame,
    revisions: RunRevisions | None = None,
) -> dict[str, str]:
    given = revisions or RunRevisions()
    reports, lines = [f for f, _ in failures], [(line,) for _, line in failures]
    [cause] = with_patterns([_cause(failures)], reports, lines, intervals, frame, given)
    assert len(cause.whys) == 1 + len(cause.patterns)
    return {p.kind: p.text for p in cause.patterns}


def _two_instances() -> pl.DataFrame:
    return make_frame(
        [
            {"timestamp": at(10), "instance_id": "inst-1"},
            {"timestamp": at(11), "instance_id": "inst-2"},
        ]
    )


def test_one_instance_and_its_near_miss() -> None:
    same = [
        _failure("t::a", 10, _line("e1", at(10.5), "inst-1")),
        _failure("t::b", 20, _line("e2", at(20.5), "inst-1")),
    ]
    spans = [_span("t::a", 10, 11), _span("t::b", 20, 21)]
    found = _run(same, spans, _two_instances())
    assert found["one-instance"] == (
        "All 2 failures' evidence came from one instance (…inst-1), of the 2 instances that "
        "wrote entries in their windows."
    )
    apart = [same[0], _failure("t::b", 20, _line("e2", at(20.5), "inst-2"))]
    assert "one-instance" not in _run(apart, spans, _two_instances())
    # the run's only instance is no pattern
    only = make_frame([{"timestamp": at(10), "instance_id": "inst-1"}])
    assert "one-instance" not in _run(same, spans, only)
    # one failure is no pattern at all
    [alone] = with_patterns(
        [_cause(same[:1])], [same[0][0]], [(same[0][1],)], spans, _two_instances(), RunRevisions()
    )
    assert alone.patterns == ()


def test_one_revision_of_several_served() -> None:
    failures = [
        _failure("t::a", 10, _line("e1", at(10.5), "inst-1", "r-2")),
        _failure("t::b", 20, _line("e2", at(20.5), "inst-2", "r-2")),
    ]
    served = tuple(
        RevisionServed(revision=r, entries=5, first_seen=at(0), last_seen=at(30))
        for r in ("r-1", "r-2")
    )
    spans = [_span("t::a", 10, 11), _span("t::b", 20, 21)]
    found = _run(failures, spans, _two_instances(), RunRevisions(served=served))
    assert found["one-revision"].startswith("All 2 failures' evidence came from revision r-2")
    one = RunRevisions(served=served[1:])
    assert "one-revision" not in _run(failures, spans, _two_instances(), one)


def test_concurrency_from_the_tests_own_windows() -> None:
    failures = [
        _failure("t::a", 10, _line("e1", at(10.5), "inst-1")),
        _failure("t::b", 20, _line("e2", at(20.5), "inst-1")),
    ]
    spans = [
        _span("t::a", 10, 12),
        _span("t::p1", 11, 13),  # overlaps a
        _span("t::b", 20, 22),
        _span("t::p2", 19, 21),  # overlaps b
        _span("t::p3", 30, 31),  # alone
    ]
    found = _run(failures, spans, _two_instances())
    assert "All 2 failures ran while another test ran at the same time" in found["concurrent"]
    assert "1 test(s) of the run ran alone" in found["concurrent"]
    near = [s for s in spans if s.test_id != "t::p2"]  # b ran alone
    assert "concurrent" not in _run(failures, near, _two_instances())
    everyone = [s for s in spans if s.test_id != "t::p3"] + [_span("t::p4", 21.5, 30)]
    assert "concurrent" not in _run(failures, everyone, _two_instances())  # no contrast


def _started(instance: str, when: float, requests: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {
            "timestamp": at(when),
            "instance_id": instance,
            "kind": "system",
            "message": START,
            "insert_id": f"start-{instance}",
        }
    ]
    rows += [
        {
            "timestamp": at(when + 0.1 * (n + 1)),
            "instance_id": instance,
            "kind": "request",
            "insert_id": f"req-{instance}-{n}",
        }
        for n in range(requests)
    ]
    return rows


def test_cold_start_from_the_system_start_lines() -> None:
    failures = [
        _failure("t::a", 10, _line("e1", at(10.5), "inst-1")),
        _failure("t::b", 20, _line("e2", at(20.5), "inst-2")),
    ]
    spans = [_span("t::a", 10, 11), _span("t::b", 20, 21)]
    frame = make_frame([*_started("inst-1", 10.2, 1), *_started("inst-2", 20.1, 2)])
    found = _run(failures, spans, frame)
    assert found["cold-start"].startswith(
        "All 2 failures came on an instance's first requests: each one's evidence is among the "
        "first 3 requests its instance served after Cloud Run's start line for it"
    )
    assert "AUTOSCALING" in found["cold-start"]
    # near miss: the second instance had served 3 requests before its failure
    warm = make_frame([*_started("inst-1", 10.2, 1), *_started("inst-2", 19.0, 3)])
    assert "cold-start" not in _run(failures, spans, warm)
    # a start line after the failure's evidence says nothing of it
    late = make_frame([*_started("inst-1", 10.2, 1), *_started("inst-2", 20.9, 0)])
    assert "cold-start" not in _run(failures, spans, late)


def test_after_a_deploy_and_never_before() -> None:
    failures = [
        _failure("t::a", 40, _line("e1", at(40.5), "inst-1")),
        _failure("t::b", 50, _line("e2", at(50.5), "inst-1")),
    ]
    deploy = Deploy(
        service="s", revision="r-2", ready_at=at(30), requested_at=at(0), insert_ids=("a1", "c1")
    )
    spans = [_span("t::p", 10, 11), _span("t::q", 12, 13), _span("t::a", 40, 41)]
    spans.append(_span("t::b", 50, 51))
    revisions = RunRevisions(deploys=(deploy,))
    found = _run(failures, spans, _two_instances(), revisions)
    assert found["after-deploy"].startswith(
        "All 2 failures began after r-2 was deployed at 2025-09-07 15:00:30"
    )
    assert "the 2 test(s) that ran before it did not fail with it" in found["after-deploy"]
    early = Deploy(service="s", revision="r-2", ready_at=at(-60), insert_ids=("a1",))
    before_all = RunRevisions(deploys=(early,))
    assert "after-deploy" not in _run(failures, spans, _two_instances(), before_all)
    later = deploy.model_copy(update={"ready_at": at(45)})  # between the failures: not before both
    found_later = _run(failures, spans, _two_instances(), RunRevisions(deploys=(later,)))
    assert "after-deploy" not in found_later


def test_node_chat_cold_start_is_the_no_instance_cause() -> None:
    scenario = REPO / "examples" / "scenarios" / "node-chat"
    report = analyze(
        Analysis(
            results=[scenario / "results" / "report-log.jsonl"],
            logs=[str(scenario / "logs" / "gcloud-read.json")],
        )
    )
    cold = [c for c in report.causes if any(p.kind == "cold-start" for p in c.patterns)]
    [cause] = cold
    assert cause.title.startswith("The client timed out while Cloud Run had no instance")
    assert all(len(c.failures) >= 2 for c in report.causes if c.patterns)
    assert all(not c.patterns for c in report.causes if len(c.failures) < 2)
