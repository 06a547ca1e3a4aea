"""Rule matching: a rule's client selection against a failure, its server selections against
the failure's candidate lines, and the chain of deeper rules behind a match.

Text is matched on masked templates (`ids.mask`): fuzzy patterns are masked too and scored once
per distinct (pattern, template) pair, then mapped back to every line of that template, because a
busy window repeats a few templates many times and fuzzy scoring is the expensive part. Substring
and regex predicates also read the raw message, so a rule may name a literal value (`exit(3)`).

Cause rules are tried in priority order and the first that matches explains the failure; fallback
rules (`bucket:`) are tried only when no cause rule matches. A match resting on a line joined by
time only is tentative: a later rule proven by keyed lines alone is preferred to it.

A line joined by time only must agree with what the client saw (`disagrees`): its HTTP status,
its request path and its user agent, when both sides show them. In a selection with
`corroborated_by`, such a line counts only beside a line of the named selection: at most
CORROBORATION_S apart, and on the same instance when both lines show one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from fivewhys.ids import mask
from fivewhys.linear_regex import LinearRegex
from fivewhys.logs.frame import SEVERITY_RANK
from fivewhys.model import JOIN_KEYS, Evidence, Failure
from fivewhys.rules.schema import ClientSelection, Rule, ServerSelection

#: exception names that mean the client reached (or failed to reach) the server
CONNECTION_EXCEPTIONS = frozenset(
    {
        "ConnectError",
        "ConnectTimeout",
        "ConnectionClosed",
        "ConnectionClosedError",
        "ConnectionClosedOK",
        "ConnectionError",
        "ConnectionRefusedError",
        "ConnectionResetError",
        "HTTPStatusError",
        "InvalidHandshake",
        "InvalidMessage",
        "InvalidStatus",
        "InvalidStatusCode",
        "InvalidURI",
        "NetworkError",
        "ProtocolError",
        "ReadError",
        "RemoteProtocolError",
        "TimeoutError",
        "TransportError",
    }
)

#: traceback text that shows a server answer even when the failure message does not
_SERVER_ANSWER = re.compile(
    r"<Response \[[45]\d\d\b|\b[45]\d\d (?:Internal Server Error|Bad Gateway|Service Unavailable|"
    r"Gateway Timeout|Forbidden|Unauthorized|Bad Request|Not Found|Too Many Requests)\b"
)
_FUZZY_CACHE_LIMIT = 100_000
#: how far apart (seconds) a time-joined line and its corroborating line may be: the same second
CORROBORATION_S = 1.0


@dataclass(frozen=True, eq=False)
class Candidate:
    """One candidate line of one failure, as the matcher sees it."""

    #: the line's Evidence fields; the matcher reads these, and the Evidence model is built
    #: only for a line that is cited or listed (most candidates are neither)
    line: Mapping[str, Any]
    #: seconds from the failure's end to the end of the line's interval (request logs: + latency)
    end_offset_s: float
    #: how long a request log's request lasted, seconds; None for other lines
    latency_s: float | None = None

    @cached_property
    def evidence(self) -> Evidence:
        """The line as a report shows it."""
        return Evidence(**self.line)

    @classmethod
    def of(
        cls, evidence: Evidence, end_offset_s: float, latency_s: float | None = None
    ) -> Candidate:
        """A candidate for a line already made into Evidence."""
        return cls(evidence.model_dump(), end_offset_s, latency_s)


@dataclass(frozen=True)
class Match:
    """A rule that explains a failure, and the lines of each selection that matched, best first."""

    rule: Rule
    hits: dict[str, tuple[Evidence, ...]]
    #: text score (0..1) of the client and the best line of the first selection that hit
    score: float

    @property
    def primary(self) -> Evidence | None:
        """The line that carries the explanation: best line of the first selection that hit."""
        return next(iter(self.hits.values()))[0] if self.hits else None

    @property
    def weakest(self) -> Evidence | None:
        """The most weakly joined best line among the required selections (else the primary):
        a cause is only as well tied to the test as its weakest required line."""
        lines = [self.hits[name][0] for name in self.rule.required_selections if name in self.hits]
        if not lines:
            return self.primary
        return max(lines, key=lambda line: JOIN_KEYS.index(line.join_key))

    @property
    def tentative(self) -> bool:
        """The cause rests on a line joined by time only (no id ties it to the test)."""
        weakest = self.weakest
        return weakest is not None and weakest.join_key == "time"


@dataclass(frozen=True)
class Link:
    """A deeper rule (`caused_by`) that the logs confirm, with its lines."""

    rule: Rule
    hits: dict[str, tuple[Evidence, ...]]

    @property
    def primary(self) -> Evidence:
        """The line the next level of the chain is scoped by (its revision)."""
        return next(iter(self.hits.values()))[0]


@dataclass(frozen=True)
class Chain:
    """How far `caused_by` reaches past a match: confirmed links, then where it stopped."""

    links: tuple[Link, ...] = ()
    #: the deeper rules of the last rule reached that no line confirms (hypotheses)
    unconfirmed: tuple[Rule, ...] = ()


# --- the client side ------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One field of a selection held against what was seen, for `rules explain`."""

    field: str
    wanted: str
    seen: str
    ok: bool


def network_event(failure: Failure) -> bool:
    """Did the client see the server or the network (status, close, timeout, connection error)?

    False means the test failed on its own terms (an assertion, a fixture bug): the one kind of
    failure a server line must not be pinned on without a keyed server error.
    """
    event = failure.event
    if event.close_code is not None or event.http_status is not None or event.timeout:
        return True
    if event.exception_type in CONNECTION_EXCEPTIONS:
        return True
    return bool(_SERVER_ANSWER.search(failure.message) or _SERVER_ANSWER.search(failure.details))


def _show(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return " or ".join(str(v) for v in value)
    return str(value)


#: client fields of the rule format, in its order, and how each is read off a failure
_CLIENT_FIELDS: dict[str, Callable[[Failure], Any]] = {
    "exception": lambda failure: failure.event.exception_type,
    "close_code": lambda failure: failure.event.close_code,
    "close_direction": lambda failure: failure.event.close_direction,
    "http_status": lambda failure: failure.event.http_status,
    "timeout": lambda failure: failure.event.timeout,
    "network_event": network_event,
    "outcome": lambda failure: failure.outcome,
    "phase": lambda failure: failure.phase,
}


@lru_cache(maxsize=1024)
def _exception_names(wanted: tuple[str, ...]) -> frozenset[str]:
    """The class names a rule's `exception` list holds (its dotted modules dropped)."""
    return frozenset(e.rsplit(".", 1)[-1] for e in wanted)


def _holds(name: str, wanted: Any, observed: Any) -> bool:
    if name == "exception":
        return observed in _exception_names(tuple(wanted))
    if isinstance(wanted, tuple):
        return observed in wanted
    return bool(observed == wanted)


def client_checks(selection: ClientSelection, failure: Failure) -> list[Check]:
    """Every given client field against the failure, in the order of the rule format."""
    checks: list[Check] = []
    for name, observe in _CLIENT_FIELDS.items():
        wanted = getattr(selection, name)
        if wanted is None:
            continue
        observed = observe(failure)
        checks.append(Check(name, _show(wanted), _show(observed), _holds(name, wanted, observed)))
    if _has_text(selection):
        score = text_score(selection, failure.message, failure.signature)
        checks.append(
            Check(
                "message",
                _describe_text(selection),
                "no match" if score is None else f"score {score:.2f}",
                score is not None,
            )
        )
    return checks


def client_matches(selection: ClientSelection, failure: Failure) -> float | None:
    """Score (0..1) when every given client field holds for the failure, else None: the
    checks of `client_checks`, stopping at the first that fails and describing none."""
    for name, observe, wanted in _given(selection):
        if not _holds(name, wanted, observe(failure)):
            return None
    return text_score(selection, failure.message, failure.signature)


#: per client selection (by identity; the entry holds it, so its id stays its own), the fields
#: it gives, with how each is read off a failure: every failure is held against every rule
_GIVEN: dict[int, tuple[ClientSelection, list[tuple[str, Callable[[Failure], Any], Any]]]] = {}


def _given(selection: ClientSelection) -> list[tuple[str, Callable[[Failure], Any], Any]]:
    known = _GIVEN.get(id(selection))
    if known is not None and known[0] is selection:
        return known[1]
    if len(_GIVEN) >= 4096:
        _GIVEN.clear()
    given = [
        (name, observe, getattr(selection, name))
        for name, observe in _CLIENT_FIELDS.items()
        if getattr(selection, name) is not None
    ]
    _GIVEN[id(selection)] = (selection, given)
    return given


# --- text -----------------------------------------------------------------------------------


def _has_text(selection: ClientSelection | ServerSelection) -> bool:
    return any(
        value is not None
        for value in (selection.message_contains, selection.message_re, selection.message_fuzzy)
    )


def _describe_text(selection: ClientSelection | ServerSelection) -> str:
    parts = []
    if selection.message_contains is not None:
        parts.append("contains " + " or ".join(repr(n) for n in selection.message_contains))
    if selection.message_re is not None:
        parts.append(f"matches /{selection.message_re}/")
    if selection.message_fuzzy is not None:
        parts.append(f"resembles {selection.message_fuzzy!r} (>= {selection.threshold:g})")
    return ", ".join(parts)


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> LinearRegex:
    return LinearRegex(pattern)


@lru_cache(maxsize=1024)
def _masked_pattern(text: str) -> str:
    """A fuzzy pattern masked like the templates it is compared with, lower-cased."""
    return mask(text).lower()


_FUZZY: dict[tuple[str, str], float] = {}


def fuzzy_scores(pattern: str, templates: Iterable[str]) -> dict[str, float]:
    """partial_ratio (0..100) of the masked pattern against each distinct template's first line.

    Scored once per distinct (pattern, template) for the whole run, in one batch per call.
    """
    from rapidfuzz import fuzz, process  # only a rule with a fuzzy pattern needs it (7 ms)

    masked = _masked_pattern(pattern)
    distinct = set(templates)
    missing = sorted(t for t in distinct if (masked, t) not in _FUZZY)
    if missing:
        if len(_FUZZY) + len(missing) > _FUZZY_CACHE_LIMIT:
            _FUZZY.clear()
        choices = [_first_line(t).lower() for t in missing]
        for _choice, score, index in process.extract(
            masked, choices, scorer=fuzz.partial_ratio, processor=None, limit=None
        ):
            _FUZZY[(masked, missing[index])] = float(score)
    return {t: _FUZZY[(masked, t)] for t in distinct}


@lru_cache(maxsize=65536)
def _literal_holds(
    selection: ClientSelection | ServerSelection, message: str, template: str
) -> bool:
    """The contains / re predicates, on the raw message or its template (either may hold)."""
    if selection.message_contains is not None:
        lowered, masked = message.lower(), template.lower()
        if not any(
            needle.lower() in lowered or needle.lower() in masked
            for needle in selection.message_contains
        ):
            return False
    if selection.message_re is not None:
        pattern = _compiled(selection.message_re)
        if not (pattern.search(message) or pattern.search(template)):
            return False
    return True


def text_score(
    selection: ClientSelection | ServerSelection,
    message: str,
    template: str,
    fuzzy: Mapping[str, float] | None = None,
) -> float | None:
    """Score (0..1) of the message predicates (all that are given), or None when one fails.

    `fuzzy` holds precomputed template scores (from `fuzzy_scores`); without it the one template
    is scored (and cached) here.
    """
    if selection.message_fuzzy is None:
        # no text predicate: nothing to hold (and the cache's key, the selection, not hashed)
        if selection.message_contains is None and selection.message_re is None:
            return 1.0
        return 1.0 if _literal_holds(selection, message, template) else None
    if not _literal_holds(selection, message, template):
        return None
    scores = fuzzy if fuzzy is not None else fuzzy_scores(selection.message_fuzzy, [template])
    ratio = scores[template]
    if ratio < selection.threshold:
        return None
    return ratio / 100.0


# --- the server side ------------------------------------------------------------------------


def field_mismatch(selection: ServerSelection, candidate: Candidate) -> str | None:
    """The first non-text field of the selection the line fails, or None when all hold."""
    line = candidate.line
    severity = line["severity"] or "DEFAULT"
    if selection.severity is not None and severity not in selection.severity:
        return "severity"
    if selection.severity_min is not None and SEVERITY_RANK.get(severity, 0) < SEVERITY_RANK.get(
        selection.severity_min, 0
    ):
        return "severity|min"
    if selection.kind is not None and line["kind"] not in selection.kind:
        return "kind"
    if selection.http_status is not None and line["http_status"] not in selection.http_status:
        return "http_status"
    if selection.http_method is not None and line["http_method"] not in selection.http_method:
        return "http_method"
    if selection.http_path_contains is not None and not any(
        part in (line["http_path"] or "") for part in selection.http_path_contains
    ):
        return "http_path|contains"
    if selection.http_latency_min is not None and (
        candidate.latency_s is None or candidate.latency_s < selection.http_latency_min
    ):
        return "http_latency|min"
    return None


#: the selection fields `field_mismatch` tests (none given: every line passes it)
_FIELD_TESTS = (
    "severity",
    "severity_min",
    "kind",
    "http_status",
    "http_method",
    "http_path_contains",
    "http_latency_min",
)


def served_by(candidates: Iterable[Candidate]) -> frozenset[str]:
    """Instances the test's keyed lines came from: the instances that served it."""
    return frozenset(
        c.line["instance_id"]
        for c in candidates
        if c.line["join_key"] != "time" and c.line["instance_id"]
    )


def other_instance(
    selection: ServerSelection, candidate: Candidate, served: frozenset[str]
) -> bool:
    """A time-only line from an instance other than the ones known to have served the test."""
    line = candidate.line
    return (
        selection.same_instance
        and line["join_key"] == "time"
        and bool(served)
        and line["instance_id"] is not None
        and line["instance_id"] not in served
    )


def served_revisions(candidates: Iterable[Candidate]) -> frozenset[str]:
    """Revisions the test's keyed lines came from: the revisions that served it."""
    return frozenset(
        c.line["revision"]
        for c in candidates
        if c.line["join_key"] != "time" and c.line["revision"]
    )


def other_revision(candidate: Candidate, revisions: frozenset[str]) -> bool:
    """A time-only line from a revision other than the ones known to have served the test: a
    revision that never served it (one that failed to start beside it, say) cannot explain it."""
    line = candidate.line
    return (
        line["join_key"] == "time"
        and bool(revisions)
        and line["revision"] is not None
        and line["revision"] not in revisions
    )


def in_time(selection: ServerSelection, candidate: Candidate, slack_s: float) -> bool:
    """The line's interval meets [end - before, end + after] around the failure's end."""
    relation = selection.within
    return candidate.line["offset_s"] <= relation.after_s + slack_s and candidate.end_offset_s >= -(
        relation.before_s + slack_s
    )


def disagrees(candidate: Candidate, failure: Failure | None) -> str | None:
    """What a line joined by time only shows against the client (`http_status`, `http_path`,
    `user_agent`), or None: nothing but its time ties it to the test, so it must not contradict
    what the test saw."""
    line = candidate.line
    if failure is None or line["join_key"] != "time":
        return None
    event = failure.event
    shown = (
        ("http_status", line["http_status"], event.http_status),
        ("http_path", line["http_path"], event.url_path),
        ("user_agent", line["user_agent"], event.user_agent),
    )
    return next(
        (field for field, theirs, ours in shown if None not in (theirs, ours) and theirs != ours),
        None,
    )


def _beside(line: Evidence, others: Iterable[Evidence], ends: Mapping[str, float]) -> bool:
    """Another line within CORROBORATION_S of this one's interval, on its instance when both
    show one (`ends`: each line's end, seconds from the failure's end)."""
    for other in others:
        if other.insert_id == line.insert_id:
            continue
        if line.instance_id and other.instance_id and other.instance_id != line.instance_id:
            continue
        gap = max(other.offset_s - ends[line.insert_id], line.offset_s - ends[other.insert_id])
        if gap <= CORROBORATION_S:
            return True
    return False


def corroborated(
    rule: Rule, found: dict[str, tuple[Evidence, ...]], candidates: Sequence[Candidate]
) -> dict[str, tuple[Evidence, ...]]:
    """The lines per selection, without the time-joined lines of a `corroborated_by` selection
    that no line of the named selection stands beside (repeated until nothing changes: the
    named selection's own lines may need corroboration too)."""
    named = {name: s.corroborated_by for name, s in rule.server.items() if s.corroborated_by}
    if not named:
        return found
    ends = {c.line["insert_id"]: c.end_offset_s for c in candidates}
    changed = True
    while changed:
        changed = False
        for name, other in named.items():
            kept = tuple(
                line
                for line in found[name]
                if line.join_key != "time" or _beside(line, found[other], ends)
            )
            if len(kept) != len(found[name]):
                found[name], changed = kept, True
    return found


def select(
    selection: ServerSelection,
    name: str,
    candidates: Iterable[Candidate],
    slack_s: float,
    failure: Failure | None = None,
) -> tuple[Evidence, ...]:
    """Lines that satisfy a server selection, labelled with its name and text score (lines
    joined by time only: those that agree with the client, see `disagrees`)."""
    candidates = tuple(candidates)
    served = served_by(candidates) if selection.same_instance else frozenset()
    revisions = served_revisions(candidates)
    # the tests of `in_time`, `field_mismatch`, `other_instance`, `other_revision` and
    # `disagrees`, with what they read of the selection taken once (a million lines: 120
    # candidates per failure, each held against every selection of every rule tried)
    joins = selection.join
    after = selection.within.after_s + slack_s
    before = -(selection.within.before_s + slack_s)
    fields = any(getattr(selection, name) is not None for name in _FIELD_TESTS)
    instance = selection.same_instance and bool(served)
    eligible = [
        c
        for c in candidates
        if c.line["join_key"] in joins
        and c.line["offset_s"] <= after
        and c.end_offset_s >= before
        and (not fields or field_mismatch(selection, c) is None)
        and not (instance and other_instance(selection, c, served))
        and not (revisions and other_revision(c, revisions))
        and (failure is None or disagrees(c, failure) is None)
    ]
    fuzzy = (
        fuzzy_scores(selection.message_fuzzy, (c.line["template"] for c in eligible))
        if selection.message_fuzzy is not None
        else None
    )
    hits: list[Evidence] = []
    for candidate in eligible:
        line = candidate.line
        score = text_score(selection, line["message"], line["template"], fuzzy)
        if score is not None:
            update = {"matched": name, "score": round(score, 3)}
            hits.append(candidate.evidence.model_copy(update=update))
    return tuple(hits)


def server_hits(
    rule: Rule, candidates: Sequence[Candidate], slack_s: float, failure: Failure | None = None
) -> dict[str, tuple[Evidence, ...]] | None:
    """Lines per selection when every required selection hits and no absent one does."""
    found: dict[str, tuple[Evidence, ...]] = {}
    for name, selection in rule.server.items():
        found[name] = select(selection, name, candidates, slack_s, failure)
        if not found[name] and selection.required and not selection.absent:
            return None  # corroboration only takes lines away
    found = corroborated(rule, found, candidates)
    hits: dict[str, tuple[Evidence, ...]] = {}
    for name, selection in rule.server.items():
        lines = found[name]
        if selection.absent:
            if lines:
                return None
            continue
        if lines:
            hits[name] = lines
        elif selection.required:
            return None
    return hits


def match_rule(
    rule: Rule, failure: Failure, candidates: Sequence[Candidate], slack_s: float
) -> Match | None:
    """The rule's match on this failure, when its client side and its server conditions hold."""
    client_score = client_matches(rule.client, failure)
    if client_score is None:
        return None
    hits = server_hits(rule, candidates, slack_s, failure)
    if hits is None:
        return None
    if not hits:
        # a client-only rule (or absent selections only): no server line to cite
        return Match(rule=rule, hits={}, score=client_score)
    first = next(iter(hits.values()))[0]
    return Match(rule=rule, hits=hits, score=min(client_score, first.score or 1.0))


def in_matching_order(rules: Sequence[Rule]) -> list[Rule]:
    """Cause rules by priority, then fallback rules by priority (stable: ids break ties)."""
    ordered = sorted(rules, key=lambda rule: (-rule.priority, rule.id))
    return [r for r in ordered if not r.is_fallback] + [r for r in ordered if r.is_fallback]


#: the last rules `match_rules` ordered, by identity, and their order: one run matches every
#: failure against the same rules (the order holds the rules, so their ids stay theirs)
_ORDERED: dict[tuple[int, ...], list[Rule]] = {}


def _in_order(rules: Sequence[Rule]) -> list[Rule]:
    key = tuple(map(id, rules))
    ordered = _ORDERED.get(key)
    if ordered is None:
        _ORDERED.clear()
        ordered = _ORDERED[key] = in_matching_order(rules)
    return ordered


def match_rules(
    rules: Sequence[Rule], failure: Failure, candidates: Sequence[Candidate], slack_s: float
) -> Match | None:
    """The first rule that matches: cause rules first, then fallback rules. A cause resting on
    a time-only line gives way to a later cause rule proven by keyed lines alone."""
    tentative: Match | None = None
    for rule in _in_order(rules):
        if tentative is not None and rule.is_fallback:
            break
        found = match_rule(rule, failure, candidates, slack_s)
        if found is None:
            continue
        if not found.tentative:
            return found
        tentative = tentative or found
    return tentative


def follow_chain(
    match: Match,
    by_id: Mapping[str, Rule],
    candidates: Sequence[Candidate],
    slack_s: float,
    failure: Failure | None = None,
) -> Chain:
    """Walk `caused_by` while the logs confirm a deeper rule; stop at the first level they don't.

    At each level the first deeper rule (in `caused_by` order) whose server conditions hold is
    taken. Its lines must come from the revision of the line it explains (when both name one):
    "Redis host not configured" is about the revision that served the failing request.
    """
    links: list[Link] = []
    current = match.rule
    anchor = match.primary
    seen = {current.id}
    while current.caused_by:
        alternatives = [by_id[i] for i in current.caused_by if i in by_id and i not in seen]
        scoped = _same_revision(candidates, anchor)
        found: Link | None = None
        for deeper in alternatives:
            hits = server_hits(deeper, scoped, slack_s, failure)
            if hits:
                found = Link(rule=deeper, hits=hits)
                break
        if found is None:
            return Chain(links=tuple(links), unconfirmed=tuple(alternatives))
        links.append(found)
        seen.add(found.rule.id)
        current, anchor = found.rule, found.primary
    return Chain(links=tuple(links))


def _same_revision(candidates: Sequence[Candidate], anchor: Evidence | None) -> list[Candidate]:
    if anchor is None or anchor.revision is None:
        return list(candidates)
    return [c for c in candidates if c.line["revision"] in (None, anchor.revision)]
