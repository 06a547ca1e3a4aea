"""The e2e suite's client of the Node chat service: HS256 tokens, trace headers, the protocol.

Every test is the same e2e user (`qa-bot-17`, as a shared staging account is) with its own
trace (`X-Cloud-Trace-Context`, as Cloud Run propagates it). Tests record the ids they know
with ``record_property`` and print them, so a report can join a test to the server's lines.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

RecordProperty = Callable[[str, object], None]
E2E_USER = "qa-bot-17"
USER_AGENT = "chat-e2e/3.2 (pytest)"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_hs256(claims: dict[str, Any], key: str, kid: str) -> str:
    """A real HS256 JWT (RFC 7519), verifiable by the server's jsonwebtoken."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(mac)}"


@dataclass
class Bot:
    """One test's session as the e2e user: who, which trace, what the server said."""

    base_url: str = field(repr=False)
    signing_key: str = field(repr=False)
    kid: str
    trace: str
    span: int
    record_property: RecordProperty = field(repr=False)
    user_id: str = E2E_USER
    thread: str | None = None
    connection_id: str | None = None

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/ws"

    def headers(self) -> dict[str, str]:
        token = self.token()
        # what CI logs show of every run: the header as sent (a secret in the test's output)
        print(f"Authorization: Bearer {token}", flush=True)
        return {
            "Authorization": f"Bearer {token}",
            "X-Cloud-Trace-Context": f"{self.trace}/{self.span};o=1",
            "User-Agent": USER_AGENT,
        }

    def token(self) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"sub": self.user_id, "iat": now, "exp": now + 900}
        if self.thread:
            claims["thread"] = self.thread
        return sign_hs256(claims, self.signing_key, self.kid)

    def announce(self) -> None:
        """Record and print every id known so far, before anything can fail."""
        ids = {"connection_id": self.connection_id, "user_id": self.user_id, "trace": self.trace}
        known = {k: v for k, v in ids.items() if v}
        for key, value in known.items():
            self.record_property(key, value)
        print(" ".join(f"{k}={v}" for k, v in known.items()), flush=True)

    @contextmanager
    def open(self, **options: Any) -> Iterator[ClientConnection]:
        with connect(
            self.ws_url,
            additional_headers=self.headers(),
            user_agent_header=None,
            proxy=None,
            **{"open_timeout": 5, "close_timeout": 2, **options},
        ) as ws:
            yield ws

    def welcome(self, ws: ClientConnection) -> dict[str, Any]:
        """Read the `welcome` frame and announce the connection id it carries."""
        hello = recv_json(ws)
        assert hello["type"] == "welcome", hello
        self.connection_id = str(hello["connectionId"])
        self.announce()
        return hello

    def get(self, path: str, timeout: float = 5.0) -> httpx.Response:
        self.announce()
        with httpx.Client(base_url=self.base_url, timeout=timeout) as client:
            return client.get(path, headers=self.headers())


def recv_json(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    message = json.loads(ws.recv(timeout=timeout))
    assert isinstance(message, dict)
    return message
