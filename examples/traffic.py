"""Other users of the same service while the e2e suite runs: the noise a real log has.

Some of these users hit the very failures the suite hits (a brand-new user without a thread, a
v1 client starting an agent, a stale token), so the server logs the same ERROR and WARNING
templates with other connection ids, users and traces, interleaved in time with the suite's own
failures. A report must join on ids, not on "the nearest ERROR". They send no trace header, so
the frontend assigns traces.

Runs until SIGTERM/SIGINT or ``--max-connections``; finishes the current connection first.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

BROWSER_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
MOBILE_UA = "ChatApp/4.12.0 (iPhone; iOS 17.5; Scale/3.00)"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_jwt(user_id: str, *, thread: bool, expired: bool) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id,
        "email": f"{user_id}@example.test",
        "plan": "free",
        "iat": now - 7200 if expired else now,
        "exp": now - 3600 if expired else now + 3600,
    }
    if thread:
        claims["thread_id"] = f"thr_{secrets.token_hex(5)}"
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}.{_b64url(hashlib.sha256(payload.encode()).digest())}"


def _drain(ws: ClientConnection) -> None:
    """Read until the server closes or goes quiet, the way a UI keeps listening."""
    try:
        while True:
            ws.recv(timeout=0.5)
    except (ConnectionClosed, TimeoutError):
        pass


def new_user_first_visit(ws: ClientConnection) -> None:
    _drain(ws)


def v1_client_starts_agent(ws: ClientConnection) -> None:
    ws.recv(timeout=2)
    ws.send(json.dumps({"type": "start_agent", "agent": "summarizer", "prompt": "tl;dr"}))
    _drain(ws)


def chats(ws: ClientConnection) -> None:
    ws.recv(timeout=2)
    ws.send(json.dumps({"type": "chat_message", "text": "any update on my order?"}))
    ws.recv(timeout=2)


def keeps_alive(ws: ClientConnection) -> None:
    ws.recv(timeout=2)
    ws.send(json.dumps({"type": "ping"}))
    ws.recv(timeout=2)


#: (behaviour, has a thread, token expired, user agent), cycled in this order. An expired token
#: is refused with 403 before the behaviour runs.
SCENARIOS: list[tuple[Callable[[ClientConnection], None], bool, bool, str]] = [
    (new_user_first_visit, False, False, MOBILE_UA),
    (chats, True, False, BROWSER_UA),
    (v1_client_starts_agent, True, False, MOBILE_UA),
    (keeps_alive, True, True, BROWSER_UA),
]


def run(ws_url: str, period_s: float, max_connections: int) -> None:
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    turn = 0
    while not stopping and turn < max_connections:
        behaviour, thread, expired, user_agent = SCENARIOS[turn % len(SCENARIOS)]
        turn += 1
        started = time.monotonic()
        token = make_jwt(f"usr_{secrets.token_hex(4)}", thread=thread, expired=expired)
        try:
            with connect(
                ws_url,
                subprotocols=[Subprotocol("chat.v1"), Subprotocol(f"jwt.{token}")],
                user_agent_header=user_agent,
                proxy=None,
                open_timeout=5,
                close_timeout=2,
            ) as ws:
                behaviour(ws)
        except (ConnectionClosed, InvalidStatus, TimeoutError, OSError):
            pass
        while not stopping and time.monotonic() - started < period_s:
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="http://host:port of the app")
    parser.add_argument("--period", type=float, default=0.6, help="seconds between connections")
    parser.add_argument("--max-connections", type=int, default=6, help="keeps the logs small")
    args = parser.parse_args()
    ws_url = args.url.replace("http://", "ws://", 1).rstrip("/") + "/ws"
    run(ws_url, args.period, args.max_connections)


if __name__ == "__main__":
    main()
