"""Auth: reconnecting with the token CI cached before the signing key was rotated."""

from __future__ import annotations

import conftest
from chat_bot import Bot


def _with_rotated_key(bot: Bot) -> Bot:
    bot.signing_key, bot.kid = conftest.ROTATED_KEY, conftest.ROTATED_KID
    print(f"signing test tokens with kid={bot.kid} (from the CI secret cache)", flush=True)
    return bot


def test_reconnect_with_cached_credentials(bot: Bot) -> None:
    _with_rotated_key(bot).announce()
    with bot.open() as ws:
        bot.welcome(ws)


def test_second_device_joins_the_thread(bot: Bot) -> None:
    _with_rotated_key(bot).announce()
    with bot.open() as ws:
        bot.welcome(ws)


def test_moderation_queue_is_reachable(bot: Bot, moderator_token: str) -> None:
    response = bot.get("/api/moderation/queue")
    assert response.status_code == 200
