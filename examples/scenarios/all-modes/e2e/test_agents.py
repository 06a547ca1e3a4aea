"""Agent runs over the chat socket."""

from __future__ import annotations

import json
import time

from chat_client import ChatSession, recv_json


def test_agent_start_streams_events(chat: ChatSession) -> None:
    """Protocol v1 names the agent ``agent``; the server reads ``agent_name`` (main cleanup)."""
    with chat.open() as ws:
        chat.establish(ws)
        time.sleep(0.2)
        ws.send(json.dumps({"type": "start_agent", "agent": "triage", "prompt": "why?"}))
        event = recv_json(ws)
        assert event["type"] == "agent_started"


def test_planner_agent_answers(chat: ChatSession) -> None:
    """The planner agent (protocol v2) is slower than the server's agent deadline (1011)."""
    with chat.open() as ws:
        chat.establish(ws)
        time.sleep(0.2)
        ws.send(json.dumps({"type": "start_agent", "agent_name": "planner", "prompt": "plan"}))
        event = recv_json(ws)
        assert event["type"] == "agent_started"
