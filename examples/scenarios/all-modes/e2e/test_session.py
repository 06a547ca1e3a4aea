"""Handshakes: a reconnect with a cached token, and the oldest client still supported."""

from __future__ import annotations

from chat_client import ChatSession
from scenario_client import open_ws


def test_expired_session_can_reconnect(chat: ChatSession) -> None:
    """The cached token expired 90 s ago; the contract promises a grace window (403)."""
    chat.announce()
    with chat.open(expires_in_s=-90) as ws:
        chat.establish(ws)


def test_legacy_client_connects(chat: ChatSession) -> None:
    """Client 1.9 is still supported by the contract; the server now requires 2.0 (400)."""
    chat.announce()
    with open_ws(chat, headers={"X-Client-Version": "1.9"}) as ws:
        chat.establish(ws)
