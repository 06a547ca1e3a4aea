"""The chain's order (issue 13 part 8): what is proven, link by link, then the rule's
mechanisms after the trace, then the later links, then the open questions; a rule question
answered by a proven link is left out, and stays while that link is not proven."""

from __future__ import annotations

from fivewhys.chain import chain
from fivewhys.model import Why


def test_whys_come_in_chain_order_and_answered_questions_go() -> None:
    whys = [
        Why(text="server closed 1011", kind="evidence", evidence=("e1",)),
        Why(text="1011 means ...", kind="mechanism"),
        Why(text="which line raised?", kind="question", answered_by="trace"),
        Why(text="which deploy?", kind="question"),
        Why(text="client saw 1011", kind="evidence", client="results.xml:3"),
        Why(text="commit abc touched it", kind="evidence", step="commit", evidence=("t1",)),
        Why(text="deployed at T", kind="evidence", step="revision", evidence=("a1",)),
        Why(text="raised at f.py:3", kind="evidence", step="trace", evidence=("t1",)),
        Why(text="all on one instance", kind="evidence", step="pattern", evidence=("e1",)),
    ]
    ordered = chain(whys)
    assert [w.text for w in ordered] == [
        "client saw 1011",
        "server closed 1011",
        "raised at f.py:3",
        "1011 means ...",
        "all on one instance",
        "deployed at T",
        "commit abc touched it",
        "which deploy?",
    ]
    assert [w.step for w in ordered[:2]] == ["client", "server"]
    # near miss: no trace proven, the rule's question stays
    without = chain([w for w in whys if w.step != "trace"])
    assert "which line raised?" in [w.text for w in without]
    # a trace that is only a question does not answer it
    asked = [*whys[:4], Why(text="no frame", kind="question", step="trace")]
    assert "which line raised?" in [w.text for w in chain(asked)]
