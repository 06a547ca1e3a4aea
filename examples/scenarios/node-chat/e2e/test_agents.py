"""Agent runs, sent the way the v1 web client still sends them."""

from __future__ import annotations

import json

from chat_bot import Bot, recv_json


def test_agent_run_starts(bot: Bot) -> None:
    """v1 clients send `prompt`; the handler reads `input.steps` and throws (closed with 1000)."""
    with bot.open() as ws:
        bot.welcome(ws)
        ws.send(json.dumps({"type": "agent.run", "agent": "triage", "prompt": "why is CI red?"}))
        assert recv_json(ws)["type"] == "agent.started"


def test_export_keeps_the_connection(bot: Bot) -> None:
    """The export blocks the server's event loop; the client's keepalive ping times out."""
    with bot.open(ping_interval=0.2, ping_timeout=0.5) as ws:
        bot.welcome(ws)
        ws.send(json.dumps({"type": "export"}))
        assert recv_json(ws, timeout=4)["type"] == "export.ready"
