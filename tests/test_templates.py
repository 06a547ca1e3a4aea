"""Templates group like a person would: one fault's lines that differ only by ids share one,
distinct messages never merge, and masking stays linear on long runs."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import polars as pl
import pytest
from conftest import at, make_failure, make_frame

from fivewhys.config import WindowSettings
from fivewhys.correlate import correlate
from fivewhys.ids import mask, mask_expr
from fivewhys.logs.frame import fill_templates
from fivewhys.rules.loader import bundled_rules_dir, load_rules
from fivewhys.whys import build_causes, explain_failures

# Lines of one fault, as real stacks print them, each twice with other ids. Formats:
# - uvicorn access log: `'%s - "%s %s HTTP/%s" %d'` (uvicorn/protocols/http/h11_impl.py) and
#   its WebSocket rejection `'%s - "WebSocket %s" 403'` (uvicorn/protocols/websockets/*.py)
# - Python logging's BASIC_FORMAT `%(levelname)s:%(name)s:%(message)s` (logging/__init__.py)
# - pino's NDJSON line `{"level":50,"time":…,"pid":…,"hostname":…,"msg":…}` (pino docs, API)
# - zap's production JSON `{"level":"error","ts":…,"caller":"pkg/file.go:42","msg":…}` (zap README)
# - Go slog's TextHandler `time=… level=ERROR msg="…" key=value` (log/slog package docs)
# - logback's default pattern `%d{HH:mm:ss.SSS} [%thread] %-5level %logger{36} - %msg%n`
SAME_FAULT = [
    (
        "Factory SSOT validation failed: UserExecutionContext mismatch for "
        "ws_staging-_1757362867_61a02cfa (user usr_7f3a9b21, thread None)",
        "Factory SSOT validation failed: UserExecutionContext mismatch for "
        "ws_staging-_1757362901_0b9e44d1 (user usr_0c2d88ee, thread None)",
    ),
    ('10.8.0.3:52114 - "GET /ws HTTP/1.1" 403', '169.254.1.7:40022 - "GET /ws HTTP/1.1" 403'),
    (
        "ERROR:chat.ws:handler failed for conn_8e2091c99d64 on chat-00042-xaz",
        "ERROR:chat.ws:handler failed for conn_1b77c0aa9e10 on chat-00043-kib",
    ),
    (
        '{"level":50,"time":1757362867123,"pid":1,"hostname":"chat-backend-7d9f8b6c5-x2x7q",'
        '"connectionId":"01J9Z3K8W4X5Y6Z7A8B9C0D1E2","msg":"auth rejected for qa-bot-17"}',
        '{"level":50,"time":1757362899001,"pid":1,"hostname":"chat-backend-6c8d7f9b4-k9p2m",'
        '"connectionId":"01J9Z3M1Q2R3S4T5V6W7X8Y9Z0","msg":"auth rejected for qa-bot-23"}',
    ),
    (
        '{"level":"error","ts":1757362867.123,"caller":"ws/handler.go:42",'
        '"msg":"session V1StGXR8_Z5jdHi6B-myT closed","user":"ana@example.com"}',
        '{"level":"error","ts":1757362870.5,"caller":"ws/handler.go:42",'
        '"msg":"session Uakgb_J5m9g-0JDMbcJqL closed","user":"bo.li+e2e@example.org"}',
    ),
    (
        'time=2025-09-07T15:39:41.123Z level=ERROR msg="upstream refused" '
        "peer=[2001:db8::1]:443 trace=4bf92f3577b34da6a3ce929d0e0e4736",
        'time=2025-09-07T15:40:02.9Z level=ERROR msg="upstream refused" '
        "peer=[fe80::1ff:fe23:4567:890a]:8443 trace=00f067aa0ba902b7a3ce929d0e0e4736",
    ),
    (
        "15:39:41.123 [http-nio-8080-exec-3] ERROR c.e.chat.WsHandler - close 1011 for "
        "550e8400-e29b-41d4-a716-446655440000",
        "15:39:59.004 [http-nio-8080-exec-7] ERROR c.e.chat.WsHandler - close 1011 for "
        "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
    ),
    # Node: V8's TypeError text as pino's err serializer keeps it (pino-std-serializers err)
    (
        "connection setup failed for 01J9Z3K8M2QW5T6Y7V8X9A0BCD TypeError: Cannot read "
        "properties of undefined (reading 'threadId')",
        "connection setup failed for 01J9Z3M1C7RXW2D9QF4T5H6J8K TypeError: Cannot read "
        "properties of undefined (reading 'threadId')",
    ),
    ("rate limited qa-bot-17", "rate limited qa-bot-203"),
    ("invite sent to alice+e2e@example.com", "invite sent to bob.smith@corp.example.org"),
    ("pod chat-backend-7d9f8b6c5-x2x7q not ready", "pod chat-backend-5c8d7f6b9-q9w8e not ready"),
    # Go net's dial error text: "dial tcp <addr>: connect: connection refused" (net/net.go OpError)
    (
        "dial tcp 10.0.0.3:6379: connect: connection refused",
        "dial tcp 10.8.1.12:6380: connect: connection refused",
    ),
    ("dial tcp [2001:db8::1]:8443: i/o timeout", "dial tcp [fd00::a]:443: i/o timeout"),
]

#: messages a person keeps apart: words, close codes, HTTP statuses, exit codes stay literal
DISTINCT = [
    ("VM Started", "VM Paused"),
    ("connection closed 1011", "connection closed 1000"),
    ('10.8.0.3:52114 - "GET /ws HTTP/1.1" 403', '10.8.0.3:52114 - "GET /ws HTTP/1.1" 500'),
    ("GET /api/threads 500 0.013s curl/8.5.0", "GET /api/threads 503 0.013s curl/8.5.0"),
    ('{"statusCode":500,"msg":"x"}', '{"statusCode":502,"msg":"x"}'),
    ("worker exited with code 137", "worker exited with code 1"),
    ("signed with sha256", "signed with sha512"),
    ("listening on IPv4", "listening on IPv6"),
    ("decoding utf-8 failed", "decoding utf-16 failed"),
    ("connection closed by client", "connection closed by server"),
    ("ws upgrade rejected: invalid signature", "ws upgrade rejected: jwt expired"),
]

WORDS = [
    "Factory SSOT validation failed: UserExecutionContext mismatch",
    "WebSocket upgrade over HTTP/1.1 with utf-8 text, sha256 and base64",
    "oauth2 token for the e2e run on gw0 (IPv4, k8s)",
    "process exit(3)",
]


@pytest.mark.parametrize(("first", "second"), SAME_FAULT)
def test_lines_of_one_fault_share_a_template(first: str, second: str) -> None:
    assert mask(first) == mask(second)


@pytest.mark.parametrize(("first", "second"), DISTINCT)
def test_distinct_messages_keep_their_templates(first: str, second: str) -> None:
    assert mask(first) != mask(second)


@pytest.mark.parametrize("text", WORDS)
def test_words_stay_words(text: str) -> None:
    assert mask(text) == text


def test_a_masked_template_still_reads_as_the_message() -> None:
    assert mask(SAME_FAULT[0][0]) == (
        "Factory SSOT validation failed: UserExecutionContext mismatch for <ID> "
        "(user <ID>, thread None)"
    )
    assert mask(SAME_FAULT[1][0]) == '<IP> - "GET /ws HTTP/1.1" 403'


def test_the_ids_an_entry_carries_are_masked_wherever_they_appear() -> None:
    line = "handshake rejected for alice-smith on socket kestrel"
    assert mask(line, ["alice-smith", "kestrel"]) == "handshake rejected for <ID> on socket <ID>"
    assert mask(line, ["None", "ab", None]) == line  # placeholders and short values are left


def test_fill_templates_masks_each_rows_own_ids() -> None:
    frame = make_frame(
        [
            {"message": f"rejected {user} on {conn}", "user_id": user, "connection_id": conn}
            for user, conn in (("alice-smith", "wsock-kestrel"), ("bob-jones", "wsock-heron"))
        ]
    ).with_columns(template=pl.lit(None, dtype=pl.String))
    assert fill_templates(frame).get_column("template").to_list() == ["rejected <ID> on <ID>"] * 2


@pytest.fixture
def hang_guard() -> Iterator[None]:
    """Fails a test that runs for minutes (quadratic masking took > 30 s on 80 kB)."""

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("masking did not finish in 60 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(
    "unit", ["abcdef", "a1b2c3_d4-e5.", "a.", "eyJ-", "a:b:", "a.b-", "0x", "9", "usr_"]
)
def test_masking_80_kb_runs_finishes(unit: str, hang_guard: None) -> None:
    text = unit * (80_000 // len(unit))
    masked = mask(text)
    polars = pl.Series([text]).to_frame("t").select(mask_expr(pl.col("t"))).item()
    assert masked == polars
    assert len(masked) <= len(text) + 8


def test_four_failures_of_one_fault_make_one_cause() -> None:
    """Through correlation and the rules: lines that differ only by a connection id group."""
    ids = [f"ws_staging-_17573628{n}7_61a02cf{n}" for n in range(4)]
    failures = [
        make_failure(
            test_id=f"tests/e2e/test_chat.py::test_{n}",
            start=10.0 * n,
            end=10.0 * n + 2,
            connection_ids=(conn,),
        )
        for n, conn in enumerate(ids)
    ]
    rows = [
        {
            "insert_id": f"line-{n}",
            "timestamp": at(10.0 * n + 1.9),
            "severity": "ERROR",
            "connection_id": conn,
            "message": "Factory SSOT validation failed: user context missing 'thread_id' for "
            + conn,
            "template": None,
        }
        for n, conn in enumerate(ids)
    ]
    settings = WindowSettings(before_s=5, after_s=5, skew_s=1)
    correlation = correlate(failures, make_frame(rows), settings)
    rules = load_rules([bundled_rules_dir()], collect_errors=False)
    explained = explain_failures(failures, correlation, rules, slack_s=1.0, project="p")
    causes = build_causes(explained)
    assert len(causes) == 4
    assert len({cause.id for cause in causes.values()}) == 1
