"""Chat basics: thread bootstrap for new users, echo, and the ping/pong format."""

from __future__ import annotations

import json
import time

from chat_client import ChatSession, recv_json


def test_chat_thread_bootstraps(chat: ChatSession) -> None:
    """A user who just signed up has no thread yet (the factory's validation fails: 1011)."""
    chat.thread_id = None
    with chat.open() as ws:
        chat.establish(ws)
        time.sleep(0.2)
        ws.send(json.dumps({"type": "chat_message", "text": "hello"}))
        assert recv_json(ws)["type"] == "chat_message"


def test_chat_message_echo(chat: ChatSession) -> None:
    with chat.open() as ws:
        chat.establish(ws)
        ws.send(json.dumps({"type": "chat_message", "text": "is the build green?"}))
        assert recv_json(ws)["text"] == "echo: is the build green?"


def test_ping_reply_format(chat: ChatSession) -> None:
    """The server is right: the protocol names the field ``server_time`` (a test-side bug)."""
    with chat.open() as ws:
        chat.establish(ws)
        ws.send(json.dumps({"type": "ping"}))
        reply = recv_json(ws)
        assert "timestamp" in reply, f"pong without timestamp: {reply}"
