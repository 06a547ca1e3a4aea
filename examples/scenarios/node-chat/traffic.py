"""Other users of the Node chat service while the e2e suite runs: the same bugs, their own ids.

Background traffic, as on a shared staging service: new users whose first connection hits the
setup bug (1011), a mobile build still signing with the rotated key (403), v1 agent runs (1000),
presence calls (500) and plain chat. Every line it causes carries another user's id, another
connection and another trace: a report must never explain a test with them. Runs until killed.

Usage: ``python examples/scenarios/node-chat/traffic.py --url URL --key KEY``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import time
from pathlib import Path

import httpx
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent / "e2e"))
from chat_bot import sign_hs256  # noqa: E402

NANOID_ALPHABET = "useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict"
ACTIONS = ("new_user", "rotated_key", "agent_v1", "presence", "chat", "chat")


def nanoid(rng: random.Random, size: int = 21) -> str:
    """An id in nanoid's default alphabet and size (github.com/ai/nanoid)."""
    return "".join(rng.choice(NANOID_ALPHABET) for _ in range(size))


def one_visit(url: str, key: str, rng: random.Random, action: str) -> None:
    user = f"usr_{nanoid(rng, 12)}"
    now = int(time.time())
    claims: dict[str, object] = {"sub": user, "iat": now, "exp": now + 900}
    if action != "new_user":
        claims["thread"] = f"thr_{rng.getrandbits(48):012x}"
    signing = (
        ("chat-signing-key-2025-08", "chat-2025-08")
        if action == "rotated_key"
        else (key, "chat-2025-09")
    )
    headers = {
        "Authorization": f"Bearer {sign_hs256(claims, *signing)}",
        "X-Cloud-Trace-Context": f"{rng.getrandbits(128):032x}/{rng.getrandbits(63)};o=1",
        "User-Agent": rng.choice(
            ["Mozilla/5.0 (Macintosh) chat-web/5.1", "chat-ios/4.8.0 CFNetwork"]
        ),
    }
    if action == "presence":
        with httpx.Client(base_url=url, timeout=3) as client:
            client.get("/api/presence", headers=headers)
        return
    ws_url = url.replace("http://", "ws://", 1) + "/ws"
    with contextlib.suppress(WebSocketException, OSError, TimeoutError):
        with connect(ws_url, additional_headers=headers, proxy=None, open_timeout=3) as ws:
            ws.recv(timeout=2)
            if action == "agent_v1":
                ws.send(json.dumps({"type": "agent.run", "agent": "planner", "prompt": "plan"}))
            else:
                ws.send(json.dumps({"type": "say", "text": "hello from the background"}))
            ws.recv(timeout=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--seed", type=int, default=1757362867)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    while True:
        action = rng.choice(ACTIONS)
        with contextlib.suppress(httpx.HTTPError, WebSocketException, OSError, TimeoutError):
            one_visit(args.url.rstrip("/"), args.key, rng, action)
        time.sleep(0.15)


if __name__ == "__main__":
    sys.exit(main())
