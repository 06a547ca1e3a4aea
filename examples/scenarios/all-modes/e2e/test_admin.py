"""The admin API: its fixture needs a token this run does not have (a test-side failure)."""

from __future__ import annotations

import httpx


def test_admin_stats_are_private(base_url: str, admin_token: str) -> None:
    with httpx.Client(base_url=base_url, trust_env=False, timeout=5) as client:
        response = client.get("/health", headers={"Authorization": f"Bearer {admin_token}"})
    assert response.status_code == 200
