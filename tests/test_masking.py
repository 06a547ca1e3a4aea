"""Templates group like a person would: one fault's lines that differ only by ids share a
template, distinct messages never merge, words stay words, and masking is linear in the text.

Lines are written in each stack's own format (their sources cited), not from any rule.
"""

from __future__ import annotations

import threading

import pytest

from fivewhys.ids import mask

#: (line, the same fault with other ids): each pair must share its template
SAME_FAULT = [
    # the real staging backend's connection ids (shared/real captures)
    (
        "Factory SSOT validation failed: UserExecutionContext mismatch for "
        "ws_staging-_1757362867_61a02cfa (user usr_7f3a9c21, thread None)",
        "Factory SSOT validation failed: UserExecutionContext mismatch for "
        "ws_staging-_1757362901_0b9e44d1 (user usr_c0ffee42, thread None)",
    ),
    # Node: V8's TypeError text as pino's err serializer keeps it (pino-std-serializers err)
    (
        "connection setup failed for 01J9Z3K8M2QW5T6Y7V8X9A0BCD TypeError: Cannot read "
        "properties of undefined (reading 'threadId')",
        "connection setup failed for 01J9Z3M1C7RXW2D9QF4T5H6J8K TypeError: Cannot read "
        "properties of undefined (reading 'threadId')",
    ),
    # nanoid (21 characters of A-Za-z0-9_-, nanoid's default alphabet)
    ("session V1StGXR8_Z5jdHi6B-myT closed", "session 4f90d13a42ZxYwVuTsRqP closed"),
    # e2e users shaped like bots, e-mail addresses
    ("rate limited qa-bot-17", "rate limited qa-bot-203"),
    ("invite sent to alice+e2e@example.com", "invite sent to bob.smith@corp.example.org"),
    # Kubernetes pod names and Cloud Run revision names (name-<hash>-<suffix>, name-00042-xaz)
    (
        "pod chat-backend-7d9f8b6c5-x2x7q not ready",
        "pod chat-backend-5c8d7f6b9-q9w8e not ready",
    ),
    ("revision chat-00042-xaz failed", "revision chat-00043-pod failed"),
    # Go net/http's "http: proxy error: dial tcp 10.0.0.3:6379: connect: connection refused"
    (
        "dial tcp 10.0.0.3:6379: connect: connection refused",
        "dial tcp 10.8.1.12:6380: connect: connection refused",
    ),
    ("dial tcp [2001:db8::1]:8443: i/o timeout", "dial tcp [fd00::a]:443: i/o timeout"),
    # uvicorn's access line: '%s - "%s %s HTTP/%s" %d' (uvicorn.logging.AccessFormatter)
    (
        '169.254.1.1:52244 - "GET /api/threads/3f2a HTTP/1.1" 500',
        '169.254.1.1:41000 - "GET /api/threads/9b1c HTTP/1.1" 500',
    ),
    # logback's default pattern with a thread name holding a number
    (
        "15:00:02.900 [http-nio-8080-exec-3] ERROR c.a.chat.WsHandler - session a1b2c3d4e5 failed",
        "15:01:12.004 [http-nio-8080-exec-11] ERROR c.a.chat.WsHandler - session 99ffee0011 failed",
    ),
]

#: pairs that must keep distinct templates (Drain's known failure: "VM Started" vs "VM Paused")
DISTINCT = [
    ("VM Started", "VM Paused"),
    ("connection closed by client", "connection closed by server"),
    ("JWT expired", "JWT malformed"),
    ("utf-8 decode error", "base64 decode error"),
    ("ws upgrade rejected: invalid signature", "ws upgrade rejected: jwt expired"),
]

#: words that hold a digit or look odd but name things: they stay in the template
WORDS = ["utf-8", "sha256", "OAuth2", "e2e", "UserExecutionContext", "SSOT", "WebSocket", "IPv6"]


@pytest.mark.parametrize(("first", "second"), SAME_FAULT)
def test_one_fault_one_template(first: str, second: str) -> None:
    assert mask(first) == mask(second)


@pytest.mark.parametrize(("first", "second"), DISTINCT)
def test_distinct_messages_never_merge(first: str, second: str) -> None:
    assert mask(first) != mask(second)


@pytest.mark.parametrize("word", WORDS)
def test_words_stay_words(word: str) -> None:
    assert mask(f"failed in {word} step") == f"failed in {word} step"


def test_a_masked_template_still_reads_as_the_message() -> None:
    assert mask(SAME_FAULT[0][0]) == (
        "Factory SSOT validation failed: UserExecutionContext mismatch for <ID> "
        "(user <ID>, thread None)"
    )


def test_an_id_the_entry_carries_is_masked_whatever_its_shape() -> None:
    # a connection id that is a plain word would stay a word, but the entry names it
    assert mask("session ready for lighthouse", ("lighthouse",)) == "session ready for <ID>"
    assert mask("session ready for lighthouse") == "session ready for lighthouse"


@pytest.mark.parametrize(
    "text",
    ["abcdef" * 14_000, "1" * 80_000, "a." * 40_000, "/a" * 40_000, "x_id=" * 16_000],
    ids=["hex-letters", "digits", "dots", "slashes", "keys"],
)
def test_masking_a_long_run_does_not_hang(text: str) -> None:
    """A hang guard (10 s for 80 kB), not a speed assertion: the old patterns took minutes."""
    done = threading.Event()
    worker = threading.Thread(target=lambda: (mask(text), done.set()), daemon=True)
    worker.start()
    assert done.wait(10), "masking 80 kB did not finish in 10 s"
