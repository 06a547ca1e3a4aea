"""Presence over the socket."""

from __future__ import annotations

import json

from chat_client import ChatSession, recv_json


def test_presence_lists_online_users(chat: ChatSession) -> None:
    with chat.open() as ws:
        chat.establish(ws)
        ws.send(json.dumps({"type": "presence"}))
        assert recv_json(ws)["type"] == "presence"
