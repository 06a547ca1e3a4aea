"""Loading a user's whole history (served by the second instance)."""

from __future__ import annotations

import json

from chat_client import ChatSession, recv_json
from conftest import as_ws
from scenario_client import open_ws


def test_full_history_loads(chat: ChatSession, instance_b_url: str) -> None:
    """The server holds the whole history in memory; the instance is killed past its limit."""
    with open_ws(chat, as_ws(instance_b_url)) as ws:
        chat.establish(ws)
        ws.send(json.dumps({"type": "load_history"}))
        assert recv_json(ws, timeout=10)["type"] == "history"
