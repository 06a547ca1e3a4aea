"""The HTTP side of the service."""

from __future__ import annotations

import secrets

import httpx
from chat_client import RecordProperty


def test_health_reports_ok(base_url: str, record_property: RecordProperty) -> None:
    trace = secrets.token_hex(16)
    record_property("trace", trace)
    print(f"trace={trace}", flush=True)
    headers = {"X-Cloud-Trace-Context": f"{trace}/{secrets.randbits(63)};o=1"}
    with httpx.Client(base_url=base_url, trust_env=False, timeout=5) as client:
        response = client.get("/health", headers=headers)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
