"""The live event stream: a dashboard keeps it open for minutes."""

from __future__ import annotations

import json
import time

from chat_client import ChatSession, recv_json


def test_event_stream_stays_open(chat: ChatSession) -> None:
    """Longer than the service's request timeout (3 s here): the frontend cuts it (1006)."""
    with chat.open() as ws:
        chat.establish(ws)
        ws.send(json.dumps({"type": "subscribe_events"}))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert recv_json(ws)["type"] == "event"
