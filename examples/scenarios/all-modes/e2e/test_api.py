"""The HTTP API: the agent catalog and service discovery."""

from __future__ import annotations

import secrets

import httpx
from chat_client import RecordProperty


def _get(base_url: str, path: str, record_property: RecordProperty) -> httpx.Response:
    trace = secrets.token_hex(16)
    record_property("trace", trace)
    print(f"trace={trace}", flush=True)
    headers = {"X-Cloud-Trace-Context": f"{trace}/{secrets.randbits(63)};o=1"}
    with httpx.Client(base_url=base_url, trust_env=False, timeout=5) as client:
        response = client.get(path, headers=headers)
    response.raise_for_status()
    return response


def test_agent_catalog_lists_agents(base_url: str, record_property: RecordProperty) -> None:
    """The route is ``/api/agents/``; the test calls it without the slash (307)."""
    assert "planner" in _get(base_url, "/api/agents", record_property).json()["agents"]


def test_discovery_services_lists_agents(base_url: str, record_property: RecordProperty) -> None:
    """Discovery needs Redis, which this revision looks for at a local fallback (500)."""
    assert _get(base_url, "/api/discovery/services", record_property).json()["services"]


def test_health_reports_ok(base_url: str, record_property: RecordProperty) -> None:
    assert _get(base_url, "/health", record_property).json()["status"] == "ok"
