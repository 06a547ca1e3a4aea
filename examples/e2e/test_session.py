"""Session handling on the chat socket: ids on connect, reconnects with a cached token."""

from __future__ import annotations

import time

from chat_client import ChatSession


def test_connection_established_carries_ids(chat: ChatSession) -> None:
    with chat.open() as ws:
        hello = chat.establish(ws)
        assert hello["user_id"] == chat.user_id
        assert str(hello["connection_id"]).startswith("conn_")
        time.sleep(0.2)


def test_expired_session_can_reconnect(chat: ChatSession) -> None:
    """A laptop waking from sleep reconnects with its cached token, which expired 90 s ago.

    The client contract promises a 5-minute grace window for reconnects, so the handshake
    should succeed and the server should ask for a token refresh over the socket.
    """
    chat.announce()  # No connection id exists before the handshake succeeds.
    time.sleep(0.3)
    with chat.open(expires_in_s=-90) as ws:
        hello = chat.establish(ws)
        assert hello["type"] == "connection_established"
