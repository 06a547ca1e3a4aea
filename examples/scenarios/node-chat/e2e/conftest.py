"""Fixtures of the node-chat suite; URLs and the signing key come from the generator.

`NODE_CHAT_URL` is the running revision, `NODE_CHAT_NEXT_REVISION_URL` the frontend of the
next revision (whose instances never become ready), `NODE_CHAT_SIGNING_KEY` the key CI signs
test tokens with (the service's current key).
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat_bot import Bot, RecordProperty  # noqa: E402

CURRENT_KID = "chat-2025-09"
#: the key rotated out on 2025-09-01; a cached CI secret still holds it (the 403 fault)
ROTATED_KEY = "chat-signing-key-2025-08"
ROTATED_KID = "chat-2025-08"


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set; run examples/scenarios/node-chat/generate.py", False)
    return value


@pytest.fixture(scope="session")
def base_url() -> str:
    return _env("NODE_CHAT_URL").rstrip("/")


@pytest.fixture(scope="session")
def next_revision_url() -> str:
    return _env("NODE_CHAT_NEXT_REVISION_URL").rstrip("/")


@pytest.fixture
def bot(base_url: str, record_property: RecordProperty) -> Bot:
    """The shared e2e user with a chat thread, on a fresh trace."""
    return Bot(
        base_url=base_url,
        signing_key=_env("NODE_CHAT_SIGNING_KEY"),
        kid=CURRENT_KID,
        trace=secrets.token_hex(16),
        span=secrets.randbits(63),
        record_property=record_property,
        thread=f"thr_{secrets.token_hex(6)}",
    )


@pytest.fixture
def moderator_token() -> str:
    """The moderation API's token, from CI's secret store (not configured for this run: a bug)."""
    return os.environ["NODE_CHAT_MODERATOR_TOKEN"]
