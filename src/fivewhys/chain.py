"""The chain (issue 13 part 8): a cause's whys in the order of what proves them.

First what is proven, link by link: the client's event, the server line, the stack trace's
frame; then the rule's mechanisms (why that line fails the test); then the pattern across the
failures, the revision and its deploy, the regression window and the suspect commits. The rule's
own questions stay only where none of those answers them (a question marked `answered_by` a
step is left out when that step is proven); the open questions end the chain. A why's place
within its group is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from fivewhys.model import Cause, Why, WhyStep

#: chain order of the proven steps; the rule's mechanisms come after `trace`
ORDER: tuple[WhyStep, ...] = (
    "client",
    "server",
    "trace",
    "pattern",
    "revision",
    "regression",
    "commit",
)
_MECHANISMS = ORDER.index("trace") + 0.5


def in_chain_order(causes: Sequence[Cause]) -> list[Cause]:
    """Each cause with its whys in chain order (see the module's docstring)."""
    return [cause.model_copy(update={"whys": chain(cause.whys)}) for cause in causes]


def chain(whys: Sequence[Why]) -> tuple[Why, ...]:
    tagged = [_tagged(why) for why in whys]
    proven = {why.step for why in tagged if why.kind == "evidence"}
    kept = [w for w in tagged if not (w.kind == "question" and w.answered_by in proven)]
    return tuple(sorted(kept, key=_rank))


def _tagged(why: Why) -> Why:
    """A rule's evidence why is the client's event when it cites a client fact, else the
    server line."""
    if why.step is not None or why.kind != "evidence":
        return why
    return why.model_copy(
        update={"step": "client" if why.client and not why.evidence else "server"}
    )


def _rank(why: Why) -> float:
    if why.kind == "question":
        return len(ORDER) + 1
    if why.kind == "evidence" and why.step is not None:
        return ORDER.index(why.step)
    return _MECHANISMS  # the rule's mechanisms and hypotheses
