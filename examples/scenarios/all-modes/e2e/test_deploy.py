"""Right after the next revision took the traffic: its instances never become ready."""

from __future__ import annotations

import secrets

import httpx
from chat_client import ChatSession, RecordProperty
from conftest import as_ws
from scenario_client import open_ws


def test_chat_after_deploy(chat: ChatSession, new_revision_url: str) -> None:
    chat.announce()
    with open_ws(chat, as_ws(new_revision_url), open_timeout=1.0) as ws:
        chat.establish(ws)


def test_health_after_deploy(new_revision_url: str, record_property: RecordProperty) -> None:
    trace = secrets.token_hex(16)
    record_property("trace", trace)
    print(f"trace={trace}", flush=True)
    headers = {"X-Cloud-Trace-Context": f"{trace}/{secrets.randbits(63)};o=1"}
    with httpx.Client(base_url=new_revision_url, trust_env=False, timeout=1.0) as client:
        assert client.get("/health", headers=headers).status_code == 200
