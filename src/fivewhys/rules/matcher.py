"""Rule matching: a rule's client selection against a failure, its server selections against
the failure's candidate lines.

Text predicates run once per distinct (message, template) pair, not once per line: a busy window
repeats the same few templates, and fuzzy matching is the expensive part.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz

from fivewhys.ids import mask
from fivewhys.logs.frame import SEVERITY_RANK
from fivewhys.model import Evidence, Failure
from fivewhys.rules.schema import ClientSelection, Rule, ServerSelection


@dataclass(frozen=True)
class Candidate:
    """One candidate line of one failure, as the matcher sees it."""

    evidence: Evidence
    #: seconds from the failure's end to the end of the line's interval (request logs: + latency)
    end_offset_s: float


@dataclass(frozen=True)
class Match:
    """A rule that explains a failure, and the lines of each selection that matched, best first."""

    rule: Rule
    hits: dict[str, tuple[Evidence, ...]]
    #: text score (0..1) of the best line of the first required selection
    score: float

    @property
    def primary(self) -> Evidence | None:
        """The line that carries the explanation: best line of the first selection that hit."""
        return next(iter(self.hits.values()))[0] if self.hits else None


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def client_matches(selection: ClientSelection, failure: Failure) -> float | None:
    """Score (0..1) when every given client field holds for the failure, else None."""
    event = failure.event
    if selection.exception is not None:
        names = {e.rsplit(".", 1)[-1] for e in selection.exception}
        if event.exception_type not in names:
            return None
    checks: list[tuple[Any, Any]] = [
        (selection.close_code, event.close_code),
        (selection.http_status, event.http_status),
    ]
    for wanted, seen in checks:
        if wanted is not None and seen not in wanted:
            return None
    if selection.close_direction is not None and event.close_direction != selection.close_direction:
        return None
    if selection.timeout is not None and event.timeout != selection.timeout:
        return None
    return text_score(selection, failure.message, failure.signature)


def text_score(
    selection: ClientSelection | ServerSelection, message: str, template: str
) -> float | None:
    """Score of the message predicates (contains / re / fuzzy, all that are given), or None."""
    return _text_score_cached(selection, message, template)


@lru_cache(maxsize=65536)
def _text_score_cached(
    selection: ClientSelection | ServerSelection, message: str, template: str
) -> float | None:
    score = 1.0
    lowered = message.lower()
    if selection.message_contains is not None and not any(
        needle.lower() in lowered or needle.lower() in template.lower()
        for needle in selection.message_contains
    ):
        return None
    if selection.message_re is not None:
        pattern = _compiled(selection.message_re)
        if not (pattern.search(message) or pattern.search(template)):
            return None
    if selection.message_fuzzy is not None:
        ratio = fuzz.partial_ratio(
            _masked(selection.message_fuzzy).lower(), _first_line(template).lower()
        )
        if ratio < selection.threshold:
            return None
        score = min(score, ratio / 100.0)
    return score


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@lru_cache(maxsize=1024)
def _masked(text: str) -> str:
    return mask(text)


def _fields_hold(selection: ServerSelection, line: Evidence) -> bool:
    severity = line.severity or "DEFAULT"
    if selection.severity is not None and severity not in selection.severity:
        return False
    if selection.severity_min is not None and SEVERITY_RANK.get(severity, 0) < SEVERITY_RANK.get(
        selection.severity_min, 0
    ):
        return False
    if selection.kind is not None and line.kind not in selection.kind:
        return False
    if selection.http_status is not None and line.http_status not in selection.http_status:
        return False
    if selection.http_method is not None and line.http_method not in selection.http_method:
        return False
    return selection.http_path_contains is None or any(
        part in (line.http_path or "") for part in selection.http_path_contains
    )


def _in_time(selection: ServerSelection, candidate: Candidate, slack_s: float) -> bool:
    """The line's interval meets [end - before, end + after] around the failure's end."""
    relation = selection.within
    return (
        candidate.evidence.offset_s <= relation.after_s + slack_s
        and candidate.end_offset_s >= -(relation.before_s + slack_s)
    )


def select(
    selection: ServerSelection, name: str, candidates: Iterable[Candidate], slack_s: float
) -> tuple[Evidence, ...]:
    """Lines that satisfy a server selection, labelled with its name and text score."""
    hits: list[Evidence] = []
    for candidate in candidates:
        line = candidate.evidence
        if line.join_key not in selection.join or not _in_time(selection, candidate, slack_s):
            continue
        if not _fields_hold(selection, line):
            continue
        score = text_score(selection, line.message, line.template)
        if score is not None:
            hits.append(line.model_copy(update={"matched": name, "score": round(score, 3)}))
    return tuple(hits)


def match_rule(
    rule: Rule, failure: Failure, candidates: Sequence[Candidate], slack_s: float
) -> Match | None:
    """The rule's match on this failure, when its client side and every required selection hold."""
    client_score = client_matches(rule.client, failure)
    if client_score is None:
        return None
    hits: dict[str, tuple[Evidence, ...]] = {}
    for name, selection in rule.server.items():
        lines = select(selection, name, candidates, slack_s)
        if lines:
            hits[name] = lines
        elif selection.required:
            return None
    if not hits:
        # a client-only rule: it explains the failure without any server line
        return Match(rule=rule, hits={}, score=client_score)
    first = next(iter(hits.values()))[0]
    return Match(rule=rule, hits=hits, score=min(client_score, first.score or 1.0))


def match_rules(
    rules: Sequence[Rule], failure: Failure, candidates: Sequence[Candidate], slack_s: float
) -> Match | None:
    """The first rule, in priority order, that explains the failure."""
    for rule in rules:
        found = match_rule(rule, failure, candidates, slack_s)
        if found is not None:
            return found
    return None
