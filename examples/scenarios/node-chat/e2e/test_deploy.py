"""Smoke tests against the next revision right after its deploy (none of its instances start)."""

from __future__ import annotations

import dataclasses

from chat_bot import Bot


def test_next_revision_health(bot: Bot, next_revision_url: str) -> None:
    bot = dataclasses.replace(bot, base_url=next_revision_url)
    assert bot.get("/healthz", timeout=1.5).status_code == 200


def test_next_revision_accepts_websockets(bot: Bot, next_revision_url: str) -> None:
    bot = dataclasses.replace(bot, base_url=next_revision_url)
    bot.announce()
    with bot.open(open_timeout=1.5) as ws:
        bot.welcome(ws)
