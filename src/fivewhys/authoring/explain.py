"""Why a rule did or did not match a failure, step by step (`fivewhys rules explain`).

Each candidate line is walked through the same predicates the matcher uses, in order: join key,
time relation, fields, text. A line stops at the first step it fails; the report keeps every
line that matched, the lines that got furthest, and how many stopped at each step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from fivewhys.model import Failure
from fivewhys.redact import clean_text
from fivewhys.rules.matcher import (
    Candidate,
    Check,
    client_checks,
    disagrees,
    field_mismatch,
    fuzzy_scores,
    in_time,
    match_rules,
    other_instance,
    other_revision,
    served_by,
    served_revisions,
    text_score,
)
from fivewhys.rules.schema import Rule, ServerSelection

Step = Literal["join", "time", "fields", "text", "match"]
STEPS: tuple[Step, ...] = ("join", "time", "fields", "text", "match")
SHOWN_LINES = 5


@dataclass(frozen=True)
class LineVerdict:
    """How far one candidate line got through one selection, and why it stopped there."""

    candidate: Candidate
    step: Step
    detail: str


@dataclass(frozen=True)
class SelectionReport:
    """One server selection against all of a failure's candidates."""

    name: str
    selection: ServerSelection
    verdicts: tuple[LineVerdict, ...]

    @property
    def hits(self) -> tuple[LineVerdict, ...]:
        """The lines that satisfy the selection (for an absent one: the lines that veto)."""
        return tuple(v for v in self.verdicts if v.step == "match")

    @property
    def holds(self) -> bool:
        """Whether this selection lets the rule fire (absent: no hit; optional: always)."""
        if self.selection.absent:
            return not self.hits
        return bool(self.hits) or not self.selection.required

    def stopped_at(self) -> Counter[Step]:
        """How many lines stopped at each step: where to loosen a selection, if anywhere."""
        return Counter(v.step for v in self.verdicts if v.step != "match")

    def closest_misses(self) -> tuple[LineVerdict, ...]:
        """The lines that got furthest without matching, best candidates first."""
        misses = [v for v in self.verdicts if v.step != "match"]
        misses.sort(key=lambda v: -STEPS.index(v.step))
        return tuple(misses[:SHOWN_LINES])


@dataclass(frozen=True)
class RuleReport:
    """One rule against one failure: client checks, each selection, and who wins."""

    rule: Rule
    failure: Failure
    client: tuple[Check, ...]
    selections: tuple[SelectionReport, ...]
    #: the rule that explains (or buckets) the failure in the whole library, if any
    winner: Rule | None

    @property
    def client_ok(self) -> bool:
        return all(check.ok for check in self.client)

    @property
    def matched(self) -> bool:
        return self.client_ok and all(s.holds for s in self.selections)

    def first_reason(self) -> str:
        """One line: why the rule does not match (or that it does)."""
        for check in self.client:
            if not check.ok:
                return f"client {check.field}: wants {check.wanted}, saw {check.seen}"
        for report in self.selections:
            if report.holds:
                continue
            if report.selection.absent:
                line = report.hits[0].candidate.evidence
                return f"absent selection {report.name}: line {line.insert_id} matches it"
            return f"server selection {report.name}: " + _no_line(report)
        return "matches"


def _no_line(report: SelectionReport) -> str:
    if not report.verdicts:
        return "no candidate line at all"
    stopped = report.stopped_at()
    parts = [f"{stopped[step]} by {step}" for step in STEPS if stopped[step]]
    return f"no line matches ({len(report.verdicts)} candidate(s): {', '.join(parts)})"


def line_verdict(
    selection: ServerSelection,
    candidate: Candidate,
    slack_s: float,
    fuzzy: dict[str, float] | None,
    served: frozenset[str] = frozenset(),
    failure: Failure | None = None,
    revisions: frozenset[str] = frozenset(),
) -> LineVerdict:
    """The first step at which the line fails the selection, or `match` with its score."""
    line = candidate.evidence
    if line.join_key not in selection.join:
        wanted = ", ".join(selection.join)
        return LineVerdict(candidate, "join", f"joined on {line.join_key}, wants {wanted}")
    if not in_time(selection, candidate, slack_s):
        relation = selection.within
        return LineVerdict(
            candidate,
            "time",
            f"at {line.offset_s:+.3f} s (ends {candidate.end_offset_s:+.3f} s), outside "
            f"{relation.before_s:g} s before .. {relation.after_s:g} s after the failure's end",
        )
    field = field_mismatch(selection, candidate)
    if field is not None:
        return LineVerdict(candidate, "fields", _field_detail(selection, candidate, field))
    if other_instance(selection, candidate, served):
        return LineVerdict(
            candidate,
            "fields",
            f"instance {line.instance_id} did not serve this test (its keyed lines came from "
            f"{', '.join(sorted(served))})",
        )
    if other_revision(candidate, revisions):
        return LineVerdict(
            candidate,
            "fields",
            f"revision {line.revision} did not serve this test (its keyed lines came from "
            f"{', '.join(sorted(revisions))})",
        )
    against = disagrees(candidate, failure)
    if against is not None:
        return LineVerdict(
            candidate,
            "fields",
            f"joined by time only, and its {against} contradicts what the client saw",
        )
    score = text_score(selection, line.message, line.template, fuzzy)
    if score is None:
        detail = "message does not match"
        if selection.message_fuzzy is not None and fuzzy is not None:
            detail += f" (fuzzy {fuzzy[line.template]:.0f} < {selection.threshold:g})"
        return LineVerdict(candidate, "text", detail)
    return LineVerdict(candidate, "match", f"score {score:.2f}")


def _field_detail(selection: ServerSelection, candidate: Candidate, field: str) -> str:
    """What the line has against what the selection wants, for the field it fails."""
    line = candidate.evidence

    def any_of(values: tuple[object, ...] | None) -> str:
        return " or ".join(str(v) for v in values or ())

    if field == "severity":
        return f"severity {line.severity or 'DEFAULT'}, wants {any_of(selection.severity)}"
    if field == "severity|min":
        return f"severity {line.severity or 'DEFAULT'} is below {selection.severity_min}"
    if field == "kind":
        return f"kind {line.kind}, wants {any_of(selection.kind)}"
    if field == "http_status":
        return f"http_status {line.http_status}, wants {any_of(selection.http_status)}"
    if field == "http_method":
        return f"http_method {line.http_method}, wants {any_of(selection.http_method)}"
    if field == "http_path|contains":
        return f"http_path {line.http_path!r} contains none of {selection.http_path_contains}"
    return (
        f"latency {_seconds(candidate.latency_s)}, wants at least "
        f"{selection.http_latency_min or 0:g} s"
    )


def _seconds(value: float | None) -> str:
    return "none (not a request log)" if value is None else f"{value:.3f} s"


def explain_rule(
    rule: Rule,
    failure: Failure,
    candidates: Sequence[Candidate],
    library: Sequence[Rule],
    slack_s: float,
) -> RuleReport:
    """Walk the rule's client selection and every server selection over the candidates."""
    selections: list[SelectionReport] = []
    for name, selection in rule.server.items():
        fuzzy = (
            fuzzy_scores(selection.message_fuzzy, (c.evidence.template for c in candidates))
            if selection.message_fuzzy is not None
            else None
        )
        served = served_by(candidates)
        revisions = served_revisions(candidates)
        verdicts = tuple(
            line_verdict(selection, c, slack_s, fuzzy, served, failure, revisions)
            for c in candidates
        )
        selections.append(SelectionReport(name, selection, verdicts))
    winner = match_rules(library, failure, candidates, slack_s)
    return RuleReport(
        rule=rule,
        failure=failure,
        client=tuple(client_checks(rule.client, failure)),
        selections=tuple(selections),
        winner=winner.rule if winner else None,
    )


# --- text rendering -------------------------------------------------------------------------


def _line(verdict: LineVerdict) -> str:
    line = verdict.candidate.evidence
    text = " ".join(clean_text(line.message).split())  # cleaned before it is cut: no half secret
    if len(text) > 100:
        text = text[:99] + "…"
    return (
        f"{line.insert_id} {line.join_key} {line.offset_s:+.3f} s {line.severity or 'DEFAULT'} "
        f"{line.kind}: {text}"
    )


def render_rule_report(report: RuleReport) -> str:
    """The step-by-step explanation as plain text, one failure."""
    rule, failure = report.rule, report.failure
    verdict = "MATCHES" if report.matched else "does not match"
    out = [f"{failure.test_id}: {rule.id} {verdict}"]
    out.append(f"  failure: {' '.join(clean_text(failure.message).split())[:160]}")
    out.append("  client:")
    if not report.client:
        out.append("    (no client fields)")
    for check in report.client:
        mark = "ok " if check.ok else "NO "
        out.append(f"    {mark}{check.field}: wants {check.wanted}, saw {check.seen}")
    for selection in report.selections:
        out.extend(_render_selection(selection))
    out.append(f"  verdict: {report.first_reason()}")
    out.append(f"  {_winner_text(report)}")
    return "\n".join(out)


def _render_selection(report: SelectionReport) -> list[str]:
    selection = report.selection
    role = "absent" if selection.absent else ("required" if selection.required else "optional")
    state = "holds" if report.holds else "fails"
    hits = report.hits
    out = [
        f"  server selection {report.name} ({role}, join {', '.join(selection.join)}, "
        f"{selection.within.before_s:g} s before .. {selection.within.after_s:g} s after): "
        f"{len(hits)} of {len(report.verdicts)} candidate line(s) match; {state}"
    ]
    out.extend(f"    + {_line(v)} [{v.detail}]" for v in hits[:SHOWN_LINES])
    if len(hits) > SHOWN_LINES:
        out.append(f"    + ... and {len(hits) - SHOWN_LINES} more")
    stopped = report.stopped_at()
    if stopped:
        counts = ", ".join(f"{stopped[step]} at {step}" for step in STEPS if stopped[step])
        out.append(f"    stopped: {counts}; closest misses:")
        out.extend(f"    - {_line(v)} [{v.step}: {v.detail}]" for v in report.closest_misses())
    return out


def _winner_text(report: RuleReport) -> str:
    winner = report.winner
    if winner is None:
        return "in the library: no rule matches this failure (unexplained)"
    what = f"bucket {winner.bucket}" if winner.bucket else "its cause"
    if winner.id == report.rule.id:
        return f"in the library: this rule is the first match, so it gives {what}"
    return (
        f"in the library: {winner.id} (priority {winner.priority}) matches first and gives {what}"
    )
