"""Threads: the first connection of a user who has none yet, and a plain echo."""

from __future__ import annotations

import json

from chat_bot import Bot, recv_json


def test_new_user_gets_a_thread(bot: Bot) -> None:
    """A user straight from sign-up has no thread; the server must create one (it throws: 1011)."""
    bot.thread = None
    bot.announce()
    with bot.open() as ws:
        hello = bot.welcome(ws)
        assert hello["threadId"]


def test_new_user_can_send_a_first_message(bot: Bot) -> None:
    bot.thread = None
    bot.announce()
    with bot.open() as ws:
        recv = recv_json(ws)
        ws.send(json.dumps({"type": "say", "text": "hi, first time here"}))
        assert recv_json(ws)["type"] == "said", recv


def test_new_user_sees_the_rooms(bot: Bot) -> None:
    bot.thread = None
    bot.announce()
    with bot.open() as ws:
        bot.welcome(ws)
        ws.send(json.dumps({"type": "say", "text": "/rooms"}))
        assert recv_json(ws)["type"] == "said"


def test_say_is_echoed(bot: Bot) -> None:
    with bot.open() as ws:
        bot.welcome(ws)
        ws.send(json.dumps({"type": "say", "text": "is staging green?"}))
        assert recv_json(ws)["text"] == "is staging green?"


def test_ping_reply_carries_a_timestamp(bot: Bot) -> None:
    """The protocol names the field `serverTime`; the test expects `ts` (a test-side bug)."""
    with bot.open() as ws:
        bot.welcome(ws)
        ws.send(json.dumps({"type": "ping"}))
        reply = recv_json(ws)
        assert "ts" in reply, f"pong without ts: {reply}"
