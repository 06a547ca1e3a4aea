"""The generic cause: when no named rule explains a failure, an ERROR line keyed to this very
connection or trace just before what the client saw is still a cause, titled by its template.

It is engine code, not a rule file of the library: its title comes from the line it found, its
confidence is capped below the named rules (whys.GENERIC_CAP) and it is tried only after every
named cause rule, so no priority can put it before one. Weaker cases (an error elsewhere in the
window, or not on the failing connection) stay in the `server-error` bucket.
"""

from __future__ import annotations

from collections.abc import Sequence

from fivewhys.ids import mask
from fivewhys.model import Evidence, Failure, Why
from fivewhys.rules.matcher import Candidate, Match, match_rule
from fivewhys.rules.schema import Rule

#: how long before the failure's end the error may be (the server fails, then the client sees)
BEFORE_S = 5.0

GENERIC_RULE = Rule.model_validate(
    {
        "id": "generic-keyed-error",
        "title": "The server logged an error on the failing connection or trace just before it",
        "level": "medium",
        "priority": 0,
        "client": {"network_event": True},
        "server": {
            "error": {
                "severity|min": "ERROR",
                # the server's own words: a request log only restates the status the client saw
                "kind": ["stdout", "stderr", "system", "other"],
                "join": ["connection_id", "trace"],
                "within": {"before": BEFORE_S, "after": 0},
            }
        },
        "whys": [{"text": "(built by fivewhys.generic)", "kind": "question"}],
        "fix": (
            "Read the error line and what the server logged before it on the same connection or "
            "trace; once the failure mode is understood, draft a named rule for it with "
            "`fivewhys rules suggest` so the next run gets its title, whys and fix."
        ),
        "references": ["https://cloud.google.com/run/docs/logging"],
    }
)


def generic_match(
    failure: Failure, candidates: Sequence[Candidate], slack_s: float
) -> Match | None:
    """The generic cause of a failure no named rule explains, if its lines show one."""
    return match_rule(GENERIC_RULE, failure, candidates, slack_s)


def _where(line: Evidence) -> str:
    return "on the connection" if line.join_key == "connection_id" else "in the request's trace"


def _what_client_saw(failure: Failure) -> str:
    event = failure.event
    if event.close_code is not None:
        return "it closed" if event.close_direction != "sent" else "the client closed it"
    if event.http_status is not None:
        return f"the client got HTTP {event.http_status}"
    if event.timeout:
        return "the client timed out"
    return "the client failed"


def _span(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def generic_title(primaries: Sequence[tuple[Failure, Evidence]]) -> str:
    """`The server logged "<template>" on the connection 40 ms before it closed` (for several
    failures: the range of their distances)."""
    failure, line = primaries[0]
    first = line.message.strip().splitlines()[0] if line.message.strip() else line.template
    template = mask(first)
    if len(template) > 120:
        template = template[:119] + "…"
    before = sorted(max(0.0, -line.offset_s) for _, line in primaries)
    distance = _span(before[0])
    if len(primaries) > 1 and _span(before[-1]) != distance:
        distance = f"{distance} to {_span(before[-1])}"
    saw = _what_client_saw(failure)
    return f'The server logged "{template}" {_where(line)} {distance} before {saw}'


def generic_whys(primaries: Sequence[tuple[Failure, Evidence]]) -> list[Why]:
    """Evidence (the client's own failure, the server's line), then the open questions: no
    story, since no rule says what this error means."""
    failure, line = primaries[0]
    cited = tuple(dict.fromkeys(line.insert_id for _, line in primaries))[:5]
    first_line = failure.message.splitlines()[0] if failure.message else failure.outcome
    others = f" (and {len(primaries) - 1} more test(s))" if len(primaries) > 1 else ""
    text = " ".join(line.message.split())
    if len(text) > 200:
        text = text[:199] + "…"
    return [
        Why(
            text=f'{failure.test_id}{others} failed with "{first_line}".',
            kind="evidence",
            client=failure.source,
        ),
        Why(
            text=(
                f'{_span(max(0.0, -line.offset_s))} before, the server logged "{text}" at '
                f"{line.severity or 'DEFAULT'} {_where(line)} "
                f"(joined on {line.join_key}, revision {line.revision or 'unknown'})."
            ),
            kind="evidence",
            evidence=cited,
        ),
        Why(
            text=(
                "What raised it? The full entry (its traceback or payload, linked in the "
                "evidence) names the code path; no named rule recognises this message yet."
            ),
            kind="question",
        ),
        Why(
            text=(
                "Is it the cause or a symptom? The lines logged before it on the same "
                f"{'connection' if line.join_key == 'connection_id' else 'trace'} (listed in "
                "the evidence) show what the server was doing when it failed."
            ),
            kind="question",
        ),
    ]
