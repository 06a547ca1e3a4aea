"""Id and client-event extraction, on the exact texts websockets 10-17 and httpx 0.28 print."""

from __future__ import annotations

import pytest

from fivewhys.ids import (
    IdPatterns,
    extract_client_event,
    extract_ids,
    mask,
    observed_text,
    strip_ansi,
)
from fivewhys.model import Ids


@pytest.mark.parametrize(
    ("message", "exc", "code", "reason", "direction"),
    [
        (
            "websockets.exceptions.ConnectionClosedError: received 1011 (internal error) "
            "Internal error; then sent 1011 (internal error) Internal error",
            "ConnectionClosedError",
            1011,
            "Internal error",
            "received",
        ),
        (
            "websockets.exceptions.ConnectionClosedError: received 1011 (unexpected error) "
            "Internal error; then sent 1011 (unexpected error) Internal error",
            "ConnectionClosedError",
            1011,
            "Internal error",
            "received",
        ),
        (
            "websockets.exceptions.ConnectionClosedOK: received 1000 (OK) main cleanup; "
            "then sent 1000 (OK) main cleanup",
            "ConnectionClosedOK",
            1000,
            "main cleanup",
            "received",
        ),
        (
            "websockets.exceptions.ConnectionClosedError: sent 1011 (internal error) keepalive "
            "ping timeout; no close frame received",
            "ConnectionClosedError",
            1011,
            "keepalive ping timeout",
            "sent",
        ),
        (
            "websockets.exceptions.ConnectionClosedError: no close frame received or sent",
            "ConnectionClosedError",
            1006,
            None,
            None,
        ),
    ],
)
def test_close_codes(
    message: str, exc: str, code: int, reason: str | None, direction: str | None
) -> None:
    event = extract_client_event(message)
    assert (event.exception_type, event.close_code, event.close_reason, event.close_direction) == (
        exc,
        code,
        reason,
        direction,
    )


@pytest.mark.parametrize(
    ("message", "exc", "status", "path", "timeout"),
    [
        (
            "websockets.exceptions.InvalidStatus: server rejected WebSocket connection: HTTP 403",
            "InvalidStatus",
            403,
            None,
            False,
        ),
        (
            "websockets.exceptions.InvalidStatusCode: server rejected WebSocket connection: "
            "HTTP 401",
            "InvalidStatusCode",
            401,
            None,
            False,
        ),
        (
            "httpx.HTTPStatusError: Redirect response '307 Temporary Redirect' for url "
            "'http://api.example.run.app/health'\nRedirect location: 'https://api.example.run.app/health'",
            "HTTPStatusError",
            307,
            "/health",
            False,
        ),
        (
            "httpx.HTTPStatusError: Server error '500 Internal Server Error' for url "
            "'https://api.example.run.app/api/discovery/services'",
            "HTTPStatusError",
            500,
            "/api/discovery/services",
            False,
        ),
        ("httpx.ReadTimeout: timed out", "ReadTimeout", None, None, True),
        ("httpx.ReadTimeout", "ReadTimeout", None, None, True),
        ("TimeoutError: timed out during opening handshake", "TimeoutError", None, None, True),
        (
            "AssertionError: assert 'timestamp' in {'type': 'pong'}",
            "AssertionError",
            None,
            None,
            False,
        ),
    ],
)
def test_http_and_timeouts(
    message: str, exc: str, status: int | None, path: str | None, timeout: bool
) -> None:
    event = extract_client_event(message)
    assert (event.exception_type, event.http_status, event.url_path, event.timeout) == (
        exc,
        status,
        path,
        timeout,
    )


def test_ids_from_json_key_value_headers_and_properties() -> None:
    ids = extract_ids(
        [
            '{"type": "connection_established", "connection_id": "conn_1a2b3c4d5e6f"}',
            "connection_id=conn_aaaaaaaaaaaa user_id=user-7",
            "X-Cloud-Trace-Context: 0AF7651916CD43DD8448EB211C80319C/1;o=1",
            "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ],
        {"user_id": "user-1", "trace": "projects/p/traces/aaaabbbbccccddddaaaabbbbccccdddd"},
    )
    assert ids.connection_ids == ("conn_1a2b3c4d5e6f", "conn_aaaaaaaaaaaa")
    assert ids.user_ids == ("user-1", "user-7")
    assert ids.traces == (
        "aaaabbbbccccddddaaaabbbbccccdddd",
        "0af7651916cd43dd8448eb211c80319c",
        "4bf92f3577b34da6a3ce929d0e0e4736",
    )


def test_configured_patterns_come_first() -> None:
    patterns = IdPatterns(connection_id=(r"\bsock#(\w+)",))
    assert extract_ids(["opened sock#abc123"], patterns=patterns).connection_ids == ("abc123",)


def test_mask_makes_one_template_of_many_lines() -> None:
    first = mask(
        "Factory SSOT validation failed (connection_id=conn_3fa9b2c1d0e4) at "
        "2025-09-07T15:39:41.123Z from 10.0.0.1 in 12.5ms"
    )
    second = mask(
        "Factory SSOT validation failed (connection_id=conn_000000000abc) at "
        "2025-09-08T01:00:00Z from 192.168.1.20 in 3ms"
    )
    assert first == second
    assert first == (
        "Factory SSOT validation failed (connection_id=<ID>) at <TS> from <IP> in <NUM>"
    )


def test_ansi_codes_are_stripped() -> None:
    assert strip_ansi("\x1b[32m2025-08-28\x1b[0m | \x1b[1mINFO\x1b[0m") == "2025-08-28 | INFO"


def test_url_path_comes_from_the_raised_error_not_traceback_arguments() -> None:
    event = extract_client_event(
        "RuntimeError: WebSocket server not available at wss://api.example.ai/ws: server "
        "rejected WebSocket connection: HTTP 403"
    )
    assert (event.url_path, event.http_status) == ("/ws", 403)
    event = extract_client_event(
        "websockets.exceptions.ConnectionClosedError: received 1011 (internal error) x",
        "    ws_url = 'ws://127.0.0.1:33099'\nE   websockets.exceptions.ConnectionClosedError",
    )
    assert event.url_path is None


def test_placeholders_are_not_ids_and_short_ids_are() -> None:
    ids = extract_ids(
        ["user_id=None connection_id: null uid=undefined userId=REDACTED", "userId=42 ok"]
    )
    assert ids == Ids(user_ids=("42",))


def test_mask_covers_spaced_offsets_and_urls() -> None:
    assert mask("[2025-09-07 15:39:43 +0000] [15] [INFO] x") == "[<TS>] [<NUM>] [INFO] x"
    assert mask("see https://app.example.ai/auth/callback now") == "see <URL> now"


def test_ids_come_from_values_not_traceback_source() -> None:
    details = (
        "chat = ChatSession(connection_id='conn_real00000001')\n\n"
        "    def test_x(chat):\n"
        '        log(connection_id="conn_other0000002")\n'
        '>       raise ConnectionClosedError(connection_id="conn_other0000003")\n'
        "E       ConnectionClosedError: received 1011 (internal error)\n"
        "------------------------- Captured stdout call -------------------------\n"
        "    indented output connection_id=conn_printed00004\n"
    )
    ids = extract_ids([observed_text(details)])
    assert ids.connection_ids == ("conn_real00000001", "conn_printed00004")


def test_ids_searched_from_literals_equal_a_full_scan() -> None:
    """The default patterns are tried only where their names are found: the same ids as `re`
    scanning every character, near misses (a name inside a word, a lowering that shifts
    positions, a Kelvin sign) included."""
    import re

    from fivewhys.ids import DEFAULT_PATTERNS, _find_all

    texts = [
        "xuid=abcd uid=efgh-1 user_id: 'u_123456' userId=u-9",
        "İ trace=0123456789abcdef0123456789abcdef uid=abcd",
        "X-Cloud-Trace-Context: 0123456789abcdef0123456789abcdef/1;o=1 TRACEPARENT="
        "00-fedcba9876543210fedcba9876543210-0123456789abcdef-01",
        "\u212a trace_id=ffffffffffffffffffffffffffffffff xtrace=0123456789abcdef0123456789abcdef",
        "conn_idconnection_id=c_1234 websocket_id=ws_12345 connectionId:'c-5678'",
    ]
    for text in texts:
        for kind in ("connection_id", "user_id", "trace"):
            compiled = DEFAULT_PATTERNS.compiled(kind)
            scanned = [
                m.group(1)
                for p in compiled
                if isinstance(p, re.Pattern)
                for m in p.finditer(text)
                if m.group(1)
            ]
            assert _find_all(compiled, text) == scanned, (kind, text)
    # `xuid` is no user id: its name is found, but not at a word boundary
    assert _find_all(DEFAULT_PATTERNS.compiled("user_id"), texts[0]) == [
        "efgh-1",
        "u_123456",
        "u-9",
    ]
