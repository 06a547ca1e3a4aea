"""Chat basics: thread bootstrap for new users, echo, and the ping/pong keepalive."""

from __future__ import annotations

import json
import time

from chat_client import ChatSession, recv_json


def test_chat_thread_bootstraps(chat: ChatSession) -> None:
    """A user who just signed up has no thread yet; the first connection must create one."""
    chat.thread_id = None
    with chat.open() as ws:
        chat.establish(ws)
        time.sleep(0.3)
        ws.send(json.dumps({"type": "chat_message", "text": "hello, first message"}))
        reply = recv_json(ws)
        assert reply["type"] == "chat_message"
        assert str(reply["thread_id"]).startswith("thr_")


def test_chat_message_echo(chat: ChatSession) -> None:
    with chat.open() as ws:
        chat.establish(ws)
        time.sleep(0.2)
        ws.send(json.dumps({"type": "chat_message", "text": "is the build green?"}))
        reply = recv_json(ws)
        assert reply["type"] == "chat_message"
        assert reply["role"] == "assistant"
        assert reply["thread_id"] == chat.thread_id
        assert reply["text"] == "echo: is the build green?"


def test_ping_round_trip(chat: ChatSession) -> None:
    with chat.open() as ws:
        chat.establish(ws)
        time.sleep(0.2)
        ws.send(json.dumps({"type": "ping"}))
        reply = recv_json(ws)
        assert reply["type"] == "pong"
        assert reply["server_time"].endswith("Z")


def test_ping_reply_format(chat: ChatSession) -> None:
    """Checks the pong shape. The server is right here: the protocol names it ``server_time``."""
    with chat.open() as ws:
        chat.establish(ws)
        time.sleep(0.2)
        ws.send(json.dumps({"type": "ping"}))
        reply = recv_json(ws)
        assert reply["type"] == "pong"
        assert "timestamp" in reply, f"pong without timestamp: {reply}"
