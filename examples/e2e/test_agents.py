"""Agent runs over the chat socket."""

from __future__ import annotations

import json
import time

from chat_client import ChatSession, recv_json


def test_agent_start_streams_events(chat: ChatSession) -> None:
    """Starting an agent (protocol v1: ``agent`` names it) streams ``agent_started`` first."""
    with chat.open() as ws:
        chat.establish(ws)
        time.sleep(0.3)
        ws.send(
            json.dumps(
                {
                    "type": "start_agent",
                    "agent": "triage",
                    "thread_id": chat.thread_id,
                    "prompt": "Why did checkout latency double after the 14:00 deploy?",
                }
            )
        )
        event = recv_json(ws)
        assert event["type"] == "agent_started"
        assert event["agent"] == "triage"
