"""From rule matches to causes: one cause per (rule, evidence template), each with its five whys.

A why is `evidence` only when a line that matched its selection is cited by insert_id (or a
client fact); otherwise it is what the rule marks it: a `mechanism` or an open `question` (an
unmarked one is a `hypothesis`, which `rules validate` warns about). Confidence is built from
its parts and documented here:

    key weight (connection_id 1.0, trace 0.9, user_id 0.75, time 0.35) of the weakest line
    x (0.6 + 0.4 x text score) x rule specificity (0.7 + 0.1 per client field, at most 1)
    + 0.05 per corroborating selection that hit (at most 0.1)

The weakest line is the most weakly joined best line among the rule's required selections: a
cause is only as well tied to the test as its weakest required proof. The text score is the
client's and the primary line's (contains / re: 1.0; fuzzy: the match ratio), so a loose fuzzy
match lowers the confidence. A rule proven by no server line (client only) gets
0.5 x specificity x score. A cause resting on a time-only line is tentative and capped at 0.4
(TIME_ONLY_CAP): time alone never makes a confident cause, however it is corroborated (a line of
the `corroborated_by` selection in the same second and instance, a request log with the client's
status, path and user agent); its `proof` names that corroboration ("tentative: joined by time
and the 403 request log, not by an id"), and a tentative match gives way to any cause rule
proven by keyed lines (matcher.match_rules). The generic cause (fivewhys.generic: no named rule,
but an ERROR line on the failing connection or trace just before the failure) is capped at 0.5
(GENERIC_CAP), below a named rule's cause on the same key with an exact text match (connection_id
0.8, trace 0.72). Causes are numbered named first, then generic, then tentative.

Deeper rules (`caused_by`) add whys, not confidence: when the
logs confirm one, its whys replace the open questions of the rule above it (whose whys are kept
up to the last one that cites a selection); when they confirm none, the chain ends with one
open question naming the deeper rules to check.

A cause's whys also quote the test's own captured output where it answers the cited lines (the
credential it signed with beside an auth refusal, the URL it called): evidence that is a client
fact (`Why.client` names where it was read; fivewhys.clues).

A failure no cause rule explains lands in a bucket, never in a cause: `client-side` or
`server-error` when a fallback rule (`bucket:`) files it there, else `unexplained`. A failure is
`client-side` only when the logs could have said otherwise: they cover its window and show no
line of its own (joined by an id) at WARNING or above; else it is `unexplained`, and says why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import repeat
from typing import Any, Literal

import jinja2
import polars as pl

from fivewhys.clues import client_clues
from fivewhys.correlate import MAX_TIME_CANDIDATES, Correlation, SetAside
from fivewhys.generic import GENERIC_RULE, generic_match, generic_title, generic_whys
from fivewhys.logs.frame import SEVERITY_RANK
from fivewhys.logs.query import explorer_links
from fivewhys.model import (
    LISTED_EVIDENCE,
    Cause,
    Cite,
    Evidence,
    Failure,
    FailureReport,
    JoinKey,
    TimelineEvent,
    Why,
    WhyKind,
)
from fivewhys.rules.matcher import (
    Candidate,
    Chain,
    Match,
    client_matches,
    follow_chain,
    match_rules,
)
from fivewhys.rules.schema import Rule, why_environment

KEY_WEIGHT: dict[str, float] = {"connection_id": 1.0, "trace": 0.9, "user_id": 0.75, "time": 0.35}
KEY_WEIGHT_ORDER: list[str] = list(KEY_WEIGHT)
PROOF_WORDS: dict[str, str] = {
    "connection_id": "connection_id",
    "trace": "trace",
    "user_id": "user_id in the window",
    "time": "time only (tentative)",
}
TIME_ONLY_CAP = 0.4
GENERIC_CAP = 0.5
UNCORROBORATED = "tentative: joined by time only, not by an id"
BUCKET_LABELS: dict[str, str] = {
    "client-side": "Client-side",
    "server-error": "Server error, no rule",
}
MAX_EVIDENCE = 10
MAX_CITED = 5
MAX_TIMELINE_LINES = 10

#: candidate columns an Evidence takes as they are
_EVIDENCE_COLUMNS = (
    "insert_id",
    "timestamp",
    "service",
    "revision",
    "instance_id",
    "severity",
    "kind",
    "http_method",
    "http_status",
    "http_path",
    "user_agent",
    "trace",
    "join_key",
)
#: a candidate's columns that are its line's (the same for every failure it is a candidate
#: of): the Evidence fields but join_key, in their order, then those unpacked after them
_LINE_COLUMNS = (
    *(name for name in _EVIDENCE_COLUMNS if name != "join_key"),
    "message",
    "template",
    "http_latency_s",
)
#: how many of _LINE_COLUMNS an Evidence takes as they are
_TAKEN = len(_EVIDENCE_COLUMNS) - 1
#: the keys of a candidate's line, in order
_LINE_KEYS = (*_LINE_COLUMNS[:_TAKEN], "join_key", "message", "template", "offset_s", "link")
_STRICT = why_environment()
_LENIENT = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.ChainableUndefined)


@dataclass(frozen=True)
class Explained:
    """One failure's outcome: the rule that matched (if any), its chain, and its candidates."""

    failure: Failure
    #: the first rule that matched: a cause rule, or a fallback rule that buckets the failure
    match: Match | None
    #: deeper rules (caused_by) the logs confirm, and where the chain stopped
    chain: Chain
    candidates: tuple[Candidate, ...]
    confidence: float
    #: why a failure a fallback rule filed as client-side is not (see `honest_bucket`)
    not_client_side: str | None = None

    @property
    def cause_match(self) -> Match | None:
        """The match when it gives a cause (not a fallback bucket)."""
        return self.match if self.match is not None and not self.match.rule.is_fallback else None

    @property
    def generic(self) -> bool:
        """The cause is the generic one (fivewhys.generic): no named rule matched."""
        return self.match is not None and self.match.rule is GENERIC_RULE

    @property
    def bucket(self) -> Literal["cause", "client-side", "server-error", "unexplained"]:
        """Where the failure lands in the report (see the module docstring)."""
        if self.match is None:
            return "unexplained"
        return self.match.rule.bucket or "cause"


def _specificity(rule: Rule) -> float:
    given = sum(value is not None for key, value in rule.client if key not in {"threshold"})
    return min(1.0, 0.7 + 0.1 * given)


def confidence(match: Match) -> float:
    """How sure the report is that `match` explains its failure (see the module docstring)."""
    weakest = match.weakest
    specificity = _specificity(match.rule)
    if weakest is None:
        return round(0.5 * specificity * match.score, 2)
    value = KEY_WEIGHT[weakest.join_key] * (0.6 + 0.4 * match.score) * specificity
    value += min(0.1, 0.05 * (len(match.hits) - 1))
    if weakest.join_key == "time":
        value = min(value, TIME_ONLY_CAP)
    if match.rule is GENERIC_RULE:
        value = min(value, GENERIC_CAP)
    return round(min(value, 0.99), 2)


def candidates_by_failure(
    correlation: Correlation, count: int, project: str | None
) -> list[tuple[Candidate, ...]]:
    """Candidate lines per failure (as many as correlate kept). A line is a candidate of several
    failures: its own fields are made Python values, and its link, once per line (`_row`)."""
    frame = correlation.candidates.with_columns(
        end_offset_s=pl.col("offset_s")
        + (pl.col("end_time") - pl.col("timestamp")).dt.total_microseconds() / 1e6,
    )
    lines = frame.unique("_row", keep="first", maintain_order=True)
    links = explorer_links(project, lines.get_column("insert_id"), lines.get_column("timestamp"))
    # columns to Python lists once: polars' named row iteration costs more than the whole loop
    own = lines.select(
        *_LINE_COLUMNS[:_TAKEN],
        "_row",
        "http_latency_s",
        message=pl.col("message").fill_null(""),
        template=pl.col("template").fill_null(""),
    ).to_dict(as_series=False)
    # each line's fields in the order an Evidence lists them; join_key and offset_s are the
    # candidate's, set per candidate
    shared = [
        dict(zip(_LINE_KEYS, values, strict=True))
        for values in zip(
            *(own[name] for name in _LINE_COLUMNS[:_TAKEN]),
            repeat(None, lines.height),
            own["message"],
            own["template"],
            repeat(None, lines.height),
            links.to_list(),
            strict=True,
        )
    ]
    at = {row: n for n, row in enumerate(own["_row"])}
    latencies = [
        latency if kind == "request" else None
        for latency, kind in zip(own["http_latency_s"], own["kind"], strict=True)
    ]
    per = frame.select("_row", "join_key", "offset_s", "failure_idx", "end_offset_s")
    out: list[list[Candidate]] = [[] for _ in range(count)]
    for row, join_key, offset, failure, end_offset in zip(
        *per.to_dict(as_series=False).values(), strict=True
    ):
        n = at[row]
        line = {**shared[n], "join_key": join_key, "offset_s": round(offset, 3)}
        out[failure].append(Candidate(line, end_offset, latencies[n]))
    return [tuple(c) for c in out]


def time_line_readers(rules: Sequence[Rule]) -> list[Rule]:
    """The rules through which a failure's time-only lines can be read: those that join lines
    by time, and those whose `caused_by` chain leads to one."""
    by_id = {rule.id: rule for rule in rules}

    def leads_to_time(rule: Rule, seen: frozenset[str]) -> bool:
        if any("time" in selection.join for selection in rule.server.values()):
            return True
        deeper = [by_id[i] for i in rule.caused_by if i in by_id and i not in seen]
        return any(leads_to_time(d, seen | {d.id}) for d in deeper)

    return [rule for rule in rules if leads_to_time(rule, frozenset({rule.id}))]


def reads_time_lines(failure: Failure, readers: Sequence[Rule]) -> bool:
    """Does one of `readers` (time_line_readers) match the failure's client side?"""
    return any(client_matches(rule.client, failure) is not None for rule in readers)


def time_caps(failures: Sequence[Failure], rules: Sequence[Rule]) -> list[int]:
    """How many time-only lines each failure needs (correlate keeps no more): all it may have
    when a rule can read them, else only the ones its report lists (MAX_EVIDENCE)."""
    readers = time_line_readers(rules)
    return [
        MAX_TIME_CANDIDATES if reads_time_lines(failure, readers) else MAX_EVIDENCE
        for failure in failures
    ]


def explain_failures(
    failures: Sequence[Failure],
    correlation: Correlation,
    rules: Sequence[Rule],
    slack_s: float,
    project: str | None = None,
) -> list[Explained]:
    """Match every failure against the rules (priority order) and follow `caused_by` chains."""
    per_failure = candidates_by_failure(correlation, len(failures), project)
    return [
        honest_bucket(explain_one(failure, candidates, rules, slack_s), covered)
        for failure, candidates, covered in zip(
            failures, per_failure, correlation.covered, strict=True
        )
    ]


def honest_bucket(item: Explained, covered: bool) -> Explained:
    """A `client-side` filing kept only when the logs cover the failure's window and none of
    its own lines (joined by an id) is at WARNING or above: no logs prove nothing of the server."""
    if item.bucket != "client-side":
        return item
    if not covered:
        reason = (
            "Not filed client-side: without logs of its window nothing shows the server had "
            "no part."
        )
    else:
        own = [
            c.line
            for c in item.candidates
            if c.line["join_key"] != "time"
            and SEVERITY_RANK.get(c.line["severity"] or "DEFAULT", 0) >= SEVERITY_RANK["WARNING"]
        ]
        if not own:
            return item
        keys = ", ".join(sorted({line["join_key"] for line in own}))
        reason = (
            f"Not client-side: {len(own)} line(s) of its own (joined on {keys}) at WARNING or "
            "above; read them below."
        )
    return dataclasses.replace(item, match=None, not_client_side=reason)


def explain_one(
    failure: Failure, candidates: tuple[Candidate, ...], rules: Sequence[Rule], slack_s: float
) -> Explained:
    """One failure against the rules: its first match, its chain and its confidence."""
    match = match_rules(rules, failure, candidates, slack_s)
    if match is None or match.rule.is_fallback:
        generic = generic_match(failure, candidates, slack_s)
        if generic is not None:
            return Explained(failure, generic, Chain(), candidates, confidence(generic))
        return Explained(failure, match, Chain(), candidates, 0.0)
    by_id = {rule.id: rule for rule in rules}
    chain = follow_chain(match, by_id, candidates, slack_s, failure)
    return Explained(failure, match, chain, candidates, confidence(match))


@lru_cache(maxsize=4096)
def _template(text: str, lenient: bool) -> jinja2.Template:
    """A why's template, compiled once per run (compiling costs 100x rendering)."""
    return (_LENIENT if lenient else _STRICT).from_string(text)


def _render_why(text: str, context: dict[str, Any]) -> str:
    try:
        return _template(text, lenient=False).render(context).strip()
    except jinja2.UndefinedError:
        return _template(text, lenient=True).render(context).strip()


def _whys_for(
    rule: Rule, hits_of: list[dict[str, tuple[Evidence, ...]]], failure: Failure
) -> list[Why]:
    first_hits = hits_of[0]
    context = {
        "failure": failure.model_dump(),
        "evidence": {name: lines[0].model_dump() for name, lines in first_hits.items()},
        "count": len(hits_of),
    }
    whys: list[Why] = []
    for template in rule.whys:
        cited: list[str] = []
        if template.evidence is not None:
            for hits in hits_of:
                cited.extend(line.insert_id for line in hits.get(template.evidence, ())[:1])
        cited = list(dict.fromkeys(cited))[:MAX_CITED]
        kind: WhyKind = "evidence" if cited else template.kind or "hypothesis"
        text = template.text
        if not cited and template.unproven is not None:
            kind, text = "question", template.unproven
        answered_by = template.answered_by if kind == "question" else None
        whys.append(
            Why(
                text=_render_why(text, context),
                kind=kind,
                evidence=tuple(cited),
                answered_by=answered_by,
            )
        )
    return whys


def _cause_key(item: Explained) -> tuple[str, str, tuple[str, ...]]:
    assert item.match is not None
    primary = item.match.primary
    deeper = tuple(link.rule.id for link in item.chain.links)
    return (item.match.rule.id, primary.template if primary else "", deeper)


def build_causes(explained: Sequence[Explained]) -> dict[int, Cause]:
    """Causes keyed by failure index; failures with the same rule and template share one."""
    groups: dict[tuple[str, str, tuple[str, ...]], list[int]] = {}
    for index, item in enumerate(explained):
        if item.cause_match is not None:
            groups.setdefault(_cause_key(item), []).append(index)
    ordered = sorted(
        groups.items(),
        key=lambda kv: (
            _standing(explained[kv[1][0]]),
            -len(kv[1]),
            min(explained[i].failure.finished_at for i in kv[1]),
            kv[0],
        ),
    )
    causes: dict[int, Cause] = {}
    for number, (_key, members) in enumerate(ordered, start=1):
        items = sorted((explained[i] for i in members), key=lambda e: e.failure.finished_at)
        cause = _cause(f"C{number}", items)
        for index in members:
            causes[index] = cause
    return causes


def _standing(item: Explained) -> int:
    """Named causes first, then generic ones, then tentative ones (resting on time only)."""
    match = item.match
    assert match is not None
    return 2 if match.tentative else int(match.rule is GENERIC_RULE)


def tentative_proof(item: Explained) -> str:
    """`tentative: joined by time and the 403 request log, not by an id`: what corroborates the
    time-only line a cause rests on."""
    match = item.match
    assert match is not None and match.weakest is not None
    line = match.weakest
    selection = match.rule.server.get(line.matched or "")
    named = selection.corroborated_by if selection else None
    beside = [o for o in match.hits.get(named or "", ()) if o.insert_id != line.insert_id]
    basis: list[str] = []
    if beside:
        other = beside[0]
        if other.http_status is not None:
            basis.append(
                f"the {other.http_status} {'request log' if other.kind == 'request' else 'line'}"
            )
        else:
            basis.append(f'the {other.severity or "DEFAULT"} line "{_short(other.template)}"')
        if line.instance_id and line.instance_id == other.instance_id:
            basis.append("on the same instance")
    agent = item.failure.event.user_agent
    if agent and any(seen.user_agent == agent for seen in (line, *beside[:1])):
        basis.append("the client's user agent")
    if not basis:
        return UNCORROBORATED
    corroboration = " ".join(basis[:2]) + "".join(f" and {more}" for more in basis[2:])
    return f"tentative: joined by time and {corroboration}, not by an id"


def _short(text: str, limit: int = 60) -> str:
    first = " ".join(text.splitlines()[:1])
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _proven_prefix(rule: Rule) -> int:
    """How many of a rule's whys to keep when a deeper rule continues the chain: up to the last
    one that cites a selection (the rest are the questions the deeper rule answers)."""
    cited = [index for index, why in enumerate(rule.whys) if why.evidence is not None]
    return cited[-1] + 1 if cited else 1


def _chain_whys(items: list[Explained]) -> list[Why]:
    """The rule's whys, continued by each confirmed deeper rule's, then where the chain stops."""
    first = items[0]
    assert first.match is not None
    segments: list[tuple[Rule, list[dict[str, tuple[Evidence, ...]]]]] = [
        (first.match.rule, [i.match.hits for i in items if i.match is not None])
    ]
    for position, link in enumerate(first.chain.links):
        segments.append((link.rule, [i.chain.links[position].hits for i in items]))
    whys: list[Why] = []
    for position, (rule, hits_of) in enumerate(segments):
        rendered = _whys_for(rule, hits_of, first.failure)
        if position < len(segments) - 1:
            rendered = rendered[: _proven_prefix(rule)]
        whys.extend(rendered)
    if first.chain.unconfirmed:
        titles = " or ".join(f"{rule.title} ({rule.id})" for rule in first.chain.unconfirmed)
        whys.append(
            Why(
                text=(
                    f"Is there a deeper cause: {titles}? No log line of this revision in the "
                    "window shows one; its own lines (the platform's system log, the app's "
                    "startup) would."
                ),
                kind="question",
            )
        )
    return whys


def _cause(cause_id: str, items: list[Explained]) -> Cause:
    match = items[0].match
    assert match is not None
    rule = match.rule
    generic = rule is GENERIC_RULE
    primaries = [(i.failure, i.match.primary) for i in items if i.match and i.match.primary]
    whys = generic_whys(primaries) if generic else _chain_whys(items)
    clues = client_clues(items[0].failure, _matched_lines(items[0]))
    if clues:  # the client facts go right after the server's evidence they answer
        at = max((n for n, why in enumerate(whys) if why.kind == "evidence"), default=-1) + 1
        whys = [*whys[:at], *clues, *whys[at:]]
    matched: dict[str, Evidence] = {}
    for item in items:
        for line in _matched_lines(item):
            matched.setdefault(line.insert_id, line)
    best = sorted(matched.values(), key=lambda line: _evidence_order(rule, line))
    # its best lines first, as listed; then the other lines its failures cite, each once
    cited = {line.insert_id for item in items for line in _cited_lines(item)}
    listed = {line.insert_id for line in best[:LISTED_EVIDENCE]}
    keys: set[str] = {line.join_key for line in matched.values()}
    strongest = min(keys, key=KEY_WEIGHT_ORDER.index) if keys else None
    proof = PROOF_WORDS[strongest] if strongest else "client side only"
    if match.tentative:
        proof = tentative_proof(items[0])
    return Cause(
        id=cause_id,
        rule_id=rule.id,
        title=generic_title(primaries) if generic else rule.title,
        level=rule.level,
        failures=tuple(dict.fromkeys(i.failure.test_id for i in items)),
        confidence=min(i.confidence for i in items),
        proof=proof,
        whys=tuple(whys),
        evidence=tuple(
            line for line in best if line.insert_id in listed or line.insert_id in cited
        ),
        timeline=_timeline(items),
        fix=rule.fix,
        references=tuple(rule.references),
        tentative=match.tentative,
        generic=generic,
        intermittent=all(i.failure.passed_on is not None for i in items),
        flaky=sum(1 for i in items if i.failure.passed_on is not None),
    )


def _timeline(items: list[Explained]) -> tuple[TimelineEvent, ...]:
    events: list[TimelineEvent] = []
    seen: set[str] = set()
    for item in items:
        failure = item.failure
        events.append(
            TimelineEvent(
                at=failure.started_at, side="client", text="test started", test_id=failure.test_id
            )
        )
        events.append(
            TimelineEvent(
                at=failure.finished_at,
                side="client",
                text=failure.message.splitlines()[0] if failure.message else failure.outcome,
                test_id=failure.test_id,
            )
        )
        for line in _matched_lines(item)[:MAX_TIMELINE_LINES]:
            if line.insert_id in seen:
                continue
            seen.add(line.insert_id)
            events.append(
                TimelineEvent(
                    at=line.timestamp,
                    side="server",
                    text=line.message.splitlines()[0] if line.message else line.template,
                    insert_id=line.insert_id,
                )
            )
    events.sort(key=lambda e: (e.at, e.side, e.insert_id or "", e.test_id or ""))
    return tuple(events)


def _matched_lines(item: Explained) -> list[Evidence]:
    """Lines that matched the rule's selections, then its chain's, in selection order."""
    groups = list(item.match.hits.values()) if item.match else []
    groups += [lines for link in item.chain.links for lines in link.hits.values()]
    return [line for lines in groups for line in lines]


def _evidence_order(rule: Rule, line: Evidence) -> tuple[int, int, datetime, str]:
    """The rule's selection order first (its first selection names the cause), then key."""
    names = list(rule.server)
    position = names.index(line.matched) if line.matched in names else len(names)
    return (position, KEY_WEIGHT_ORDER.index(line.join_key), line.timestamp, line.insert_id)


def _cited_lines(item: Explained) -> list[Evidence]:
    """The lines a failure with a cause cites: its matched lines, each once, at most
    MAX_EVIDENCE (the head of `failure_lines`)."""
    chosen: dict[str, Evidence] = {}
    for line in _matched_lines(item):
        chosen.setdefault(line.insert_id, line)
    return list(chosen.values())[:MAX_EVIDENCE]


def failure_lines(explained: Sequence[Explained]) -> list[tuple[Evidence, ...]]:
    """Per failure, its best lines whole, as it sees them: what tells whether a line of its
    own ids reached the server (contact) and which instance wrote its evidence (patterns)."""
    return [_ordered_evidence(item) for item in explained]


def _ordered_evidence(item: Explained) -> tuple[Evidence, ...]:
    """Matched lines first (selection order), then the rest by key strength and closeness."""
    chosen: dict[str, Evidence] = {}
    for line in _matched_lines(item):
        chosen.setdefault(line.insert_id, line)
    for candidate in item.candidates:
        if len(chosen) >= MAX_EVIDENCE:
            break
        if candidate.line["insert_id"] not in chosen:
            chosen[candidate.line["insert_id"]] = candidate.evidence
    return tuple(list(chosen.values())[:MAX_EVIDENCE])


def _keys_seen(item: Explained) -> set[JoinKey]:
    return {c.line["join_key"] for c in item.candidates}


def _note(item: Explained, covered: bool, window_text: str, set_aside: SetAside) -> str:
    uncovered = f"No log entry covers the window {window_text}: the logs given do not reach it."
    aside = []
    if set_aside.other_ids is None:
        aside.append(
            "those with another test's or user's ids not counted (a narrow pull does not read "
            "them; --pull all does)"
        )
    elif set_aside.other_ids:
        aside.append(
            f"{set_aside.other_ids} carry another test's or user's ids, or were written while "
            "another test ran"
        )
    if set_aside.contradicting:
        aside.append(
            f"{set_aside.contradicting} show an HTTP status that contradicts what the client saw"
        )
    aside_text = f" Lines set aside in the window: {'; '.join(aside)}." if aside else ""
    if item.match is not None and item.match.rule.is_fallback:
        return _bucket_note(item, uncovered if not covered else "") + aside_text
    if not covered:
        return " ".join(part for part in (uncovered, item.not_client_side) if part)
    if item.not_client_side:
        return item.not_client_side + aside_text
    keys = _keys_seen(item)
    keyed = sorted(k for k in keys if k != "time")
    if item.match is not None:
        primary, weakest = item.match.primary, item.match.weakest
        if primary is None or weakest is None:
            return f"Explained by rule {item.match.rule.id} from the client side alone."
        if item.match.rule is GENERIC_RULE:
            return (
                f"No named rule matched: a generic cause, the ERROR line joined on "
                f"{primary.join_key} just before the failure."
            )
        proof = tentative_proof(item)
        tentative = "Tentative" if proof == UNCORROBORATED else proof[0].upper() + proof[1:]
        if primary.join_key == "time":
            return (
                "Joined by time only: no connection_id, trace or user_id ties these lines to the "
                f"test. {tentative}; confirm by hand."
            )
        if weakest.join_key == "time":
            return (
                f"Proven by a line joined on {primary.join_key}, but the {weakest.matched} line "
                f"joins by time only. {tentative}; confirm by hand."
            )
        return f"Proven by a line joined on {primary.join_key}."
    if not item.candidates:
        return "No rule matched and no candidate line." + aside_text
    if not keyed:
        return (
            "No rule matched. Only time-only candidates (no shared id): they are listed for "
            "reading, not as a cause." + aside_text
        )
    return (
        f"No rule matched. Candidate lines joined on {', '.join(keyed)} are listed below."
        + aside_text
    )


def _bucket_note(item: Explained, uncovered: str) -> str:
    """`Client-side (rule x): <its whys>`: why the failure landed in its bucket, in words."""
    assert item.match is not None
    rule = item.match.rule
    label = BUCKET_LABELS[rule.bucket or ""]
    whys = " ".join(why.text for why in _whys_for(rule, [item.match.hits], item.failure))
    return " ".join(part for part in (f"{label} (rule {rule.id}): {whys}", uncovered) if part)


def failure_reports(
    explained: Sequence[Explained],
    causes: dict[int, Cause],
    correlation: Correlation,
    lines: Sequence[tuple[Evidence, ...]],
) -> list[FailureReport]:
    """One report row per failure, with its cause id, confidence and note; with a cause, the
    lines it cites (each listed once, in the cause); without one, its best candidate lines
    (`lines`: failure_lines)."""
    reports: list[FailureReport] = []
    for index, item in enumerate(explained):
        window = correlation.windows[index]
        window_text = f"{_iso(window.start)} .. {_iso(window.end)}"
        cause = causes.get(index)
        failure = item.failure
        reports.append(
            FailureReport(
                test_id=failure.test_id,
                outcome=failure.outcome,
                message=failure.message,
                started_at=failure.started_at,
                finished_at=failure.finished_at,
                time_exact=failure.time_exact,
                source=failure.source,
                test_file=failure.test_file or failure.test_id.split("::")[0],
                test_line=failure.test_line,
                cause_id=cause.id if cause else None,
                bucket=item.bucket,
                rule_id=item.match.rule.id if item.match else None,
                confidence=item.confidence,
                cites=tuple(_cite(line) for line in _cited_lines(item)) if cause else (),
                candidates=() if cause else lines[index],
                note=_note(
                    item, correlation.covered[index], window_text, correlation.set_aside[index]
                ),
                covered=correlation.covered[index],
                attempt=failure.attempt,
                passed_on=failure.passed_on,
                shard=failure.shard,
                runner_timeout_s=failure.event.runner_timeout_s,
                frames=failure.frames,
            )
        )
    return reports


def _cite(line: Evidence) -> Cite:
    return Cite(
        insert_id=line.insert_id,
        join_key=line.join_key,
        offset_s=line.offset_s,
        matched=line.matched,
        score=line.score,
    )


def _iso(moment: Any) -> str:
    return str((moment - timedelta(microseconds=moment.microsecond)).isoformat()).replace(
        "+00:00", "Z"
    )
