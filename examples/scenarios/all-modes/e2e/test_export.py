"""Exports run on the socket; the client keeps the connection alive with pings."""

from __future__ import annotations

import json

from chat_client import ChatSession, recv_json
from scenario_client import open_ws


def test_export_keeps_connection(chat: ChatSession) -> None:
    """The export blocks the server's event loop longer than the client's ping timeout."""
    with open_ws(chat, ping_interval=0.2, ping_timeout=0.5) as ws:
        chat.establish(ws)
        ws.send(json.dumps({"type": "export_history"}))
        assert recv_json(ws)["type"] == "export_ready"
