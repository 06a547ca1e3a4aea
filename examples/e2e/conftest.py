"""Fixtures for the example e2e suite; the app's URL comes from ``FIVEWHYS_EXAMPLE_URL``."""

from __future__ import annotations

import os
import secrets

import pytest
from chat_client import ChatSession, RecordProperty


@pytest.fixture(scope="session")
def base_url() -> str:
    url = os.environ.get("FIVEWHYS_EXAMPLE_URL")
    if not url:
        pytest.fail("FIVEWHYS_EXAMPLE_URL is not set; run examples/generate.py", pytrace=False)
    return url.rstrip("/")


@pytest.fixture(scope="session")
def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws"


@pytest.fixture
def chat(ws_url: str, record_property: RecordProperty) -> ChatSession:
    """A returning user who already has a default chat thread; each test gets a new trace."""
    return ChatSession(
        ws_url=ws_url,
        user_id=f"usr_{secrets.token_hex(4)}",
        trace=secrets.token_hex(16),
        span=secrets.randbits(63),
        record_property=record_property,
        thread_id=f"thr_{secrets.token_hex(5)}",
    )
