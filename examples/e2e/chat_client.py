"""The test-side chat client: JWT minting, trace ids, and the few protocol steps tests share.

Every test gets a fresh trace id (sent as ``X-Cloud-Trace-Context``, as Cloud Run propagates it)
and its own user; tests record the ids they know with ``record_property`` and print them, so a
report can join the test to the server's log lines.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

RecordProperty = Callable[[str, object], None]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_jwt(claims: dict[str, Any]) -> str:
    """An HS256-shaped JWT; the demo backend does not check signatures, so none is keyed."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = _b64url(hashlib.sha256(f"{header}.{payload}".encode()).digest())
    return f"{header}.{payload}.{signature}"


@dataclass
class ChatSession:
    """One simulated browser session: who, which trace, and what the server told us."""

    ws_url: str = field(repr=False)
    user_id: str
    trace: str
    span: int
    record_property: RecordProperty = field(repr=False)
    thread_id: str | None = None
    connection_id: str | None = None

    @property
    def trace_header(self) -> str:
        return f"{self.trace}/{self.span};o=1"

    def token(self, expires_in_s: float = 3600.0) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": self.user_id,
            "email": f"{self.user_id}@example.test",
            "plan": "pro",
            "iat": now,
            "exp": int(now + expires_in_s),
        }
        if self.thread_id:
            claims["thread_id"] = self.thread_id
        return make_jwt(claims)

    def announce(self) -> None:
        """Record and print every id known so far, before anything can fail."""
        ids = {"connection_id": self.connection_id, "user_id": self.user_id, "trace": self.trace}
        known = {k: v for k, v in ids.items() if v}
        for key, value in known.items():
            self.record_property(key, value)
        print(" ".join(f"{k}={v}" for k, v in known.items()), flush=True)

    @contextmanager
    def open(self, expires_in_s: float = 3600.0) -> Iterator[ClientConnection]:
        """Connect as the web client does: JWT as a ``jwt.`` subprotocol, trace header set."""
        token = self.token(expires_in_s)
        with connect(
            self.ws_url,
            subprotocols=[Subprotocol("chat.v1"), Subprotocol(f"jwt.{token}")],
            additional_headers={"X-Cloud-Trace-Context": self.trace_header},
            proxy=None,
            open_timeout=5,
            close_timeout=5,
        ) as ws:
            yield ws

    def establish(self, ws: ClientConnection) -> dict[str, Any]:
        """Read ``connection_established`` and announce the connection id it carries."""
        hello = recv_json(ws)
        assert hello["type"] == "connection_established"
        self.connection_id = str(hello["connection_id"])
        self.announce()
        return hello


def recv_json(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    message = json.loads(ws.recv(timeout=timeout))
    assert isinstance(message, dict)
    return message
