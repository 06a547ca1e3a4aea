"""What a narrow live pull asks Cloud Logging for, read off the rules (logs.live runs it).

Lines join a failure by an id it shows or by time. Every line holding one of the failures' ids
is read (a keyed query). Lines joined by time alone matter only to a rule that joins by time,
only of the kinds, severities and statuses such a selection accepts, and only within its
`within` around the failure's end: those are read for the failures the keyed lines leave open.
A failure no rule explains lists any line of its window, and counts the lines set aside: for it
the whole window is read, as a full pull would.

The same reading gives a BigQuery analysis its `TimeLines` (the selections as `LineTest`s, the
failures' bands) and the windows its second query reads whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from fivewhys.config import Settings
from fivewhys.correlate import correlate, failure_window
from fivewhys.logs.bigquery_sql import LineTest, TimeLines
from fivewhys.logs.files import LogRead
from fivewhys.logs.frame import SEVERITY_RANK
from fivewhys.logs.live import NarrowPlan, Need, Target
from fivewhys.logs.query import coalesce, quote_value, terms_clause
from fivewhys.model import Failure, RunInterval, Window
from fivewhys.rules.matcher import client_matches, in_matching_order
from fivewhys.rules.schema import Rule, ServerSelection
from fivewhys.search_terms import all_of, contains_terms, regex_terms
from fivewhys.whys import explain_failures, time_caps, time_line_readers

#: logName regexes of the line kinds (logs.entry.kind_of), as the API writes the name (`%2F`)
_KIND_RE = {
    "request": r"run\.googleapis\.com(%2[Ff]|/)requests$",
    "stdout": r"/logs/(.*(%2[Ff]|/))?stdout$",
    "stderr": r"/logs/(.*(%2[Ff]|/))?stderr$",
    "system": r"varlog(%2[Ff]|/)system$",
    "audit": r"/logs/cloudaudit\.googleapis\.com",
}


def narrow_plan(
    failures: Sequence[Failure],
    rules: Sequence[Rule],
    settings: Settings,
    intervals: Sequence[RunInterval],
    project: str | None,
) -> NarrowPlan:
    """The targets, the time clause and the judge of what is still open, for `failures`."""
    readers = time_line_readers(rules)
    by_id = {rule.id: rule for rule in rules}
    slack = settings.window.skew_s
    targets = []
    for failure in failures:
        window = failure_window(failure, settings.window)
        ids = (*failure.ids.connection_ids, *failure.ids.user_ids, *failure.ids.traces)
        selections = [
            s
            for rule in readers
            if client_matches(rule.client, failure) is not None
            for s in _time_selections(rule, by_id)
        ]
        band = None
        if selections:
            before = max(s.within.before_s for s in selections) + slack
            after = max(s.within.after_s for s in selections) + slack
            start = max(window.start, failure.finished_at - timedelta(seconds=before))
            end = min(window.end, failure.finished_at + timedelta(seconds=after))
            band = Window(start=start, end=end) if start <= end else None
        owns = tuple(
            kind
            for kind, values in (
                ("connection_id", failure.ids.connection_ids),
                ("user_id", failure.ids.user_ids),
                ("trace", failure.ids.traces),
            )
            if values
        )
        targets.append(Target(window=window, ids=tuple(dict.fromkeys(ids)), band=band, owns=owns))
    clause = time_clause([s for rule in readers for s in _time_selections(rule, by_id)])
    failure_list = list(failures)
    caps = time_caps(failure_list, rules)
    ordered = in_matching_order(rules)
    reading = frozenset(rule.id for rule in readers)

    def assess(logs: LogRead) -> Need:
        correlation = correlate(failure_list, logs.frame, settings.window, caps, intervals)
        explained = explain_failures(
            failure_list, correlation, rules, slack_s=slack, project=project
        )
        time, whole = set(), set()
        for index, item in enumerate(explained):
            match = item.cause_match
            if match is None:  # unexplained or a bucket: its report reads the whole window
                whole.add(index)
            elif targets[index].band is not None and (
                item.generic or not _settled(match.rule, item.failure, ordered, reading)
            ):
                time.add(index)
        return Need(time=frozenset(time), whole=frozenset(whole))

    return NarrowPlan(targets=tuple(targets), time_clause=clause, assess=assess)


def bigquery_lines(
    failures: Sequence[Failure],
    rules: Sequence[Rule],
    settings: Settings,
    intervals: Sequence[RunInterval],
    project: str | None,
) -> tuple[TimeLines, Callable[[LogRead], list[Window]]]:
    """What a BigQuery query reads without a key for `failures` (the lines of the time-joining
    selections, in the failures' bands), and the judge of which windows a second query reads
    whole (those of the failures the lines read so far leave unexplained)."""
    plan = narrow_plan(failures, rules, settings, intervals, project)
    by_id = {rule.id: rule for rule in rules}
    selections = [s for rule in time_line_readers(rules) for s in _time_selections(rule, by_id)]
    tests = [_line_test(s) for s in selections]
    bands = coalesce([t.band for t in plan.targets if t.band is not None], timedelta(0))
    lines = TimeLines(
        bands=tuple(bands),
        tests=None if any(t is None for t in tests) else tuple(t for t in tests if t is not None),
    )

    def whole(logs: LogRead) -> list[Window]:
        need = plan.assess(logs)
        return coalesce([plan.targets[i].window for i in need.whole], timedelta(0))

    return lines, whole


def _line_test(selection: ServerSelection) -> LineTest | None:
    """What `_selection_clause` asks the Logging API, as plain data for SQL (None: any line)."""
    kinds = _many(selection.kind)
    severities = _many(selection.severity)
    if not severities and selection.severity_min:
        low = SEVERITY_RANK.get(selection.severity_min, 0)
        # a severity it does not know ranks as DEFAULT: at DEFAULT every line passes
        severities = [n for n, rank in SEVERITY_RANK.items() if rank >= low] if low else []
    statuses = _many(selection.http_status)
    needles = _many(selection.message_contains)
    terms = all_of(
        [
            contains_terms(needles) if needles else None,
            regex_terms(selection.message_re) if selection.message_re else None,
        ]
    )
    test = LineTest(
        kinds=tuple(sorted(kinds)) if kinds and "other" not in kinds else None,
        severities=tuple(sorted(s.upper() for s in severities)) if severities else None,
        statuses=tuple(sorted(int(c) for c in statuses)) if statuses else None,
        status_in_text=bool(statuses) and kinds != ["request"],
        terms=tuple(tuple(sorted(a)) for a in terms) if terms else None,
    )
    return None if test == LineTest() else test


def _time_selections(rule: Rule, by_id: dict[str, Rule]) -> list[ServerSelection]:
    """The selections joining by time of `rule` and of the rules its `caused_by` reaches."""
    found: list[ServerSelection] = []
    seen = {rule.id}
    stack = [rule]
    while stack:
        current = stack.pop()
        found += [s for s in current.server.values() if "time" in s.join]
        for deeper in current.caused_by:
            if deeper in by_id and deeper not in seen:
                seen.add(deeper)
                stack.append(by_id[deeper])
    return found


def _settled(
    rule: Rule, failure: Failure, ordered: Sequence[Rule], readers: frozenset[str]
) -> bool:
    """A cause proven by keyed lines that no time-only line can change: its rule (and chain)
    reads none, and no rule tried before it that reads them matches the client side."""
    if rule.id in readers:
        return False
    for earlier in ordered:
        if earlier.id == rule.id:
            return True
        if earlier.id in readers and client_matches(earlier.client, failure) is not None:
            return False
    return False


def time_clause(selections: Sequence[ServerSelection]) -> str | None:
    """One filter clause for the lines any of `selections` can take (None: any line)."""
    parts = []
    for selection in selections:
        part = _selection_clause(selection)
        if part is None:
            return None
        parts.append(part)
    unique = sorted(set(parts))
    return " OR ".join(f"({p})" for p in unique) if unique else None


def _selection_clause(selection: ServerSelection) -> str | None:
    """The kinds, severities, (for request logs) statuses and message terms a selection
    accepts."""
    clauses = []
    kinds = _many(selection.kind)
    if kinds and "other" not in kinds:
        names = " OR ".join(f"logName=~{quote_value(_KIND_RE[k])}" for k in sorted(kinds))
        clauses.append(f"({names})")
    severities = _many(selection.severity)
    if severities:
        clauses.append("severity=(" + " OR ".join(sorted(severities)) + ")")
    elif selection.severity_min:
        clauses.append(f"severity>={selection.severity_min}")
    statuses = sorted(_many(selection.http_status))
    if statuses:
        codes = "httpRequest.status=(" + " OR ".join(map(str, statuses)) + ")"
        if kinds == ["request"]:
            clauses.append(codes)
        else:  # an access line in the app's output shows its status as text
            clauses.append(f"({codes} OR " + " OR ".join(f'"{c}"' for c in statuses) + ")")
    needles = _many(selection.message_contains)
    terms = all_of(
        [
            contains_terms(needles) if needles else None,
            regex_terms(selection.message_re) if selection.message_re else None,
        ]
    )
    if terms:
        clauses.append(terms_clause(terms))
    return " AND ".join(clauses) if clauses else None


def _many(value: object) -> list[Any]:
    """A one-or-many rule field as a list."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]
