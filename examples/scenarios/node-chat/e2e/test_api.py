"""The HTTP API: rooms, presence (Redis), summaries (an upstream service), health."""

from __future__ import annotations

from chat_bot import Bot


def test_rooms_are_listed(bot: Bot) -> None:
    response = bot.get("/api/rooms")  # the canonical URL ends with a slash: 307
    response.raise_for_status()
    assert "general" in response.json()["rooms"]


def test_presence_lists_who_is_online(bot: Bot) -> None:
    response = bot.get("/api/presence")
    response.raise_for_status()
    assert isinstance(response.json()["online"], list)


def test_presence_after_reconnect(bot: Bot) -> None:
    bot.get("/api/presence").raise_for_status()


def test_thread_summary(bot: Bot) -> None:
    response = bot.get("/api/summary")
    response.raise_for_status()
    assert "summary" in response.json()


def test_health(bot: Bot) -> None:
    assert bot.get("/healthz").json() == {"status": "ok"}
