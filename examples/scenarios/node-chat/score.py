"""Score a fivewhys report of the node-chat scenario against its truth.

Prints, from a report JSON (`fivewhys analyze ... -o rca.json`) and `truth.json`:
explained / server-caused (a cause, not a bucket), causes vs faults (one cause per fault),
invented (a cause given to a client-only failure), true evidence first, right rule and
misattributed (a named rule of another failure mode), and one line per failure. Exit code:
0 when the scenario's bar is met, 1 when not, 2 on unreadable input.

Usage: ``python examples/scenarios/node-chat/score.py rca.json [truth.json]``
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCENARIO = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Score:
    failures: int
    server_caused: int
    explained: int
    faults: int
    causes: int
    #: faults whose failures share one cause, that no other fault shares
    faults_one_cause: int
    invented: int
    with_evidence: int
    evidence_first: int
    #: causes whose rule is the one the truth names ("generic" counts a generic cause)
    right_rule: int
    #: server-caused failures given a named rule's cause for another failure mode
    misattributed: int

    @property
    def bar_met(self) -> bool:
        return (
            self.explained == self.server_caused
            and self.faults_one_cause == self.faults
            and self.invented == 0
            and self.evidence_first == self.with_evidence
        )


def _is_generic(cause: dict[str, Any]) -> bool:
    return "generic" in str(cause.get("rule_id", "")) or cause.get("level") == "generic"


def per_failure(report: dict[str, Any], truth: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per failing test of the truth: what the report made of it."""
    causes = {c["id"]: c for c in report.get("causes", [])}
    by_test = {f["test_id"]: f for f in report.get("failures", [])}
    rows = []
    for test_id, expected in sorted(truth.items()):
        failure = by_test.get(test_id, {})
        cause = causes.get(failure.get("cause_id") or "")
        # schema 1.5: a failure with a cause cites its lines, one without has candidates;
        # before 1.5 both were `evidence`
        evidence = (
            failure.get("cites") or failure.get("candidates") or failure.get("evidence") or []
        )
        got_rule = cause["rule_id"] if cause else failure.get("rule_id")
        rows.append(
            {
                "test": test_id.rsplit("::", 1)[-1],
                "fault": expected["fault"],
                "server_caused": expected["server_caused"],
                "cause": failure.get("cause_id"),
                "bucket": failure.get("bucket"),
                "rule": got_rule,
                "expected_rule": expected["rule"],
                "right_rule": bool(cause)
                and (
                    _is_generic(cause)
                    if expected["rule"] == "generic"
                    else got_rule == expected["rule"]
                ),
                "first_evidence": evidence[0].get("insert_id") if evidence else None,
                "evidence_first": expected["insert_id"] is not None
                and bool(evidence)
                and evidence[0].get("insert_id") == expected["insert_id"],
            }
        )
    return rows


def score(report: dict[str, Any], truth: dict[str, dict[str, Any]]) -> Score:
    rows = per_failure(report, truth)
    server = [r for r in rows if r["server_caused"]]
    causes_of_fault: dict[str, set[str | None]] = defaultdict(set)
    for row in server:
        causes_of_fault[row["fault"]].add(row["cause"])
    owners: dict[str, set[str]] = defaultdict(set)
    for fault, cause_ids in causes_of_fault.items():
        for cause_id in cause_ids:
            if cause_id:
                owners[cause_id].add(fault)
    one_cause = sum(
        1
        for cause_ids in causes_of_fault.values()
        if len(cause_ids) == 1 and None not in cause_ids and len(owners[next(iter(cause_ids))]) == 1
    )
    return Score(
        failures=len(rows),
        server_caused=len(server),
        explained=sum(1 for r in server if r["cause"] and r["bucket"] == "cause"),
        faults=len(causes_of_fault),
        causes=len({r["cause"] for r in server if r["cause"]}),
        faults_one_cause=one_cause,
        invented=sum(1 for r in rows if not r["server_caused"] and r["cause"]),
        with_evidence=sum(1 for t in truth.values() if t["insert_id"]),
        evidence_first=sum(1 for r in rows if r["evidence_first"]),
        right_rule=sum(1 for r in server if r["right_rule"]),
        misattributed=sum(
            1
            for r in server
            if r["cause"] and not r["right_rule"] and r["expected_rule"] != "generic"
        ),
    )


def format_score(report: dict[str, Any], truth: dict[str, dict[str, Any]]) -> str:
    result = score(report, truth)
    lines = [
        f"explained:            {result.explained} / {result.server_caused} server-caused",
        f"causes vs faults:     {result.causes} causes for {result.faults} faults "
        f"({result.faults_one_cause} faults with exactly one cause of their own)",
        f"invented:             {result.invented} (causes given to client-only failures)",
        f"true evidence first:  {result.evidence_first} / {result.with_evidence}",
        f"right rule:           {result.right_rule} / {result.server_caused}",
        f"misattributed:        {result.misattributed} (a cause of another failure mode)",
        f"bar:                  {'met' if result.bar_met else 'NOT met'}",
        "",
        "test | fault | cause | bucket | rule (expected) | true evidence first",
    ]
    lines.extend(
        f"{row['test']} | {row['fault']} | {row['cause'] or '-'} | {row['bucket']} | "
        f"{row['rule']} ({row['expected_rule']}) | "
        f"{'yes' if row['evidence_first'] else 'no' if row['server_caused'] else '-'}"
        for row in per_failure(report, truth)
    )
    return "\n".join(lines)


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"score.py: {path}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    report = _read(Path(args[0]))
    truth = _read(Path(args[1]) if len(args) == 2 else SCENARIO / "truth.json")
    print(format_score(report, truth))
    return 0 if score(report, truth).bar_met else 1


if __name__ == "__main__":
    sys.exit(main())
