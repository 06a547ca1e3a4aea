"""Connecting the way the scenario's tests need: extra headers, keepalive, another URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chat_client import ChatSession
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol


@contextmanager
def open_ws(
    chat: ChatSession,
    url: str | None = None,
    expires_in_s: float = 3600.0,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> Iterator[ClientConnection]:
    """As `ChatSession.open`, with extra handshake headers and connect options."""
    with connect(
        url or chat.ws_url,
        subprotocols=[Subprotocol("chat.v1"), Subprotocol(f"jwt.{chat.token(expires_in_s)}")],
        additional_headers={"X-Cloud-Trace-Context": chat.trace_header, **(headers or {})},
        proxy=None,
        close_timeout=2,
        **{"open_timeout": 5, **options},
    ) as ws:
        yield ws
