"""The chat backend of the all-modes scenario: the bundled example's app with a real fault behind
every failure mode of fivewhys' rule library.

It reuses `examples/app/app.py` (structured logging in Cloud Run's shape, the frontend stand-in
that writes request logs, JWT and user-context code) and adds, each a bug on purpose:

- a planner agent slower than the agent deadline: the timeout escapes and closes with 1011;
- a synchronous export that blocks the event loop (keepalive pings go unanswered);
- a history load that holds everything in memory (the generator's watchdog kills the instance);
- an event stream that never ends (the frontend's request timeout cuts it);
- a handshake check of `X-Client-Version` that refuses old clients with 400;
- `/api/agents/` with a trailing slash (Starlette redirects `/api/agents` with 307);
- `/api/discovery/services` using Redis at a fallback address, because REDIS_HOST is not set;
- a presence tracker that logs an error no rule knows, then answers with an error frame;
- with `--require-redis-host` (the next revision): startup fails without REDIS_HOST, exit 3.

Run: ``python examples/scenarios/all-modes/app.py --port 0 --redis-port 6390``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import os
import secrets
import sys
import time
import traceback
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp
from starlette.websockets import WebSocket, WebSocketDisconnect

EXAMPLE_APP = Path(__file__).resolve().parents[2] / "app" / "app.py"


def _load_example_app() -> ModuleType:
    """`examples/app/app.py` as a module (the examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("fivewhys_example_app", EXAMPLE_APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


base = _load_example_app()
log = base.log
AGENT_DEADLINE_S = 0.5
#: how long each agent's run takes; the planner is slower than the deadline (the bug)
AGENT_RUN_S = {"triage": 0.05, "summarizer": 0.05, "planner": 3.0}
EXPORT_BLOCK_S = 1.5
EVENT_PERIOD_S = 0.5
HISTORY_CHUNK = 8 << 20
HISTORY_CHUNKS = 64
LOOP_LAG_WARN_S = 0.5
MIN_CLIENT_VERSION = (2, 0)


class AgentFailed(Exception):
    """An agent run failed; the connection's supervisor takes the socket down with it."""


class Redis:
    """Where the app looks for Redis: REDIS_HOST, else a local fallback (the bug)."""

    host = "127.0.0.1"
    port = 6379


# --- WebSocket -----------------------------------------------------------------------------------


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return (0,)


async def _run_agent(name: str) -> None:
    await asyncio.sleep(AGENT_RUN_S.get(name, 0.05))


def _export_history_sync() -> None:
    """Bug on purpose: a blocking export inside an async handler (stands in for a sync client)."""
    time.sleep(EXPORT_BLOCK_S)


async def handle_message(ws: WebSocket, ctx: Any, message: Mapping[str, Any]) -> None:
    kind = message.get("type")
    if kind == "ping":
        await ws.send_json({"type": "pong", "server_time": base.rfc3339(time.time())})
    elif kind == "chat_message":
        await ws.send_json(
            {"type": "chat_message", "role": "assistant", "thread_id": ctx.thread_id,
             "text": f"echo: {message.get('text', '')}"}
        )  # fmt: skip
    elif kind == "start_agent":
        # Bug on purpose (as in the example): protocol v1 clients send "agent".
        agent = message["agent_name"]
        run_id = f"run_{secrets.token_hex(4)}"
        try:
            await asyncio.wait_for(_run_agent(agent), AGENT_DEADLINE_S)
        except TimeoutError:
            log.error(
                "Agent %r timed out after %.1fs (run_id=%s, connection_id=%s)",
                agent,
                AGENT_DEADLINE_S,
                run_id,
                ctx.connection_id,
            )
            raise AgentFailed(agent) from None
        await ws.send_json({"type": "agent_started", "agent": agent, "run_id": run_id})
    elif kind == "export_history":
        started = time.monotonic()
        _export_history_sync()
        took = time.monotonic() - started
        log.warning(
            "Slow message handler: 'export_history' took %.2fs (connection_id=%s)",
            took,
            ctx.connection_id,
        )
        await ws.send_json({"type": "export_ready"})
    elif kind == "load_history":
        # Bug on purpose: the whole history is held in memory at once.
        history = []
        for _ in range(HISTORY_CHUNKS):
            history.append(b"\x01" * HISTORY_CHUNK)
            await asyncio.sleep(0.02)
        await ws.send_json({"type": "history", "bytes": sum(len(c) for c in history)})
    elif kind == "subscribe_events":
        for seq in range(1_000_000):
            await ws.send_json({"type": "event", "seq": seq})
            await asyncio.sleep(EVENT_PERIOD_S)
    elif kind == "presence":
        error = RuntimeError("presence map changed size during iteration")
        log.error("Presence tracker crashed: %r (connection_id=%s)", error, ctx.connection_id)
        await ws.send_json({"type": "error", "error": "presence unavailable"})
    else:
        await ws.send_json({"type": "error", "error": f"unsupported message type: {kind}"})


async def chat_socket(ws: WebSocket) -> None:
    version = ws.headers.get("x-client-version")
    if version is not None and _version(version) < MIN_CLIENT_VERSION:
        log.warning("WebSocket handshake refused: X-Client-Version %r is below 2.0", version)
        await ws.send_denial_response(JSONResponse({"error": "client too old"}, status_code=400))
        return
    token = base.token_from_subprotocols(list(ws.scope.get("subprotocols", [])))
    try:
        if token is None:
            raise base.AuthError("missing token")
        claims = base.decode_jwt(token)
    except base.AuthError as exc:
        log.warning("WebSocket auth rejected: %s", exc)
        await ws.close(code=1008)
        return
    user_id = str(claims.get("sub", ""))
    base._user_id.set(user_id)
    if float(claims.get("exp", 0)) < time.time():
        log.warning("WebSocket auth rejected: JWT expired for user_id=%s", user_id)
        await ws.close(code=1008)
        return
    connection_id = f"conn_{secrets.token_hex(6)}"
    base._connection_id.set(connection_id)
    offered = list(ws.scope.get("subprotocols", []))
    await ws.accept(subprotocol=base.CHAT_SUBPROTOCOL if base.CHAT_SUBPROTOCOL in offered else None)
    base._active_connections.add(connection_id)
    log.info("WebSocket connection accepted")
    try:
        await ws.send_json(
            {"type": "connection_established", "connection_id": connection_id, "user_id": user_id}
        )
        try:
            ctx = base.build_user_context(claims, connection_id)
        except base.FactoryValidationError as exc:
            log.error(
                "Factory SSOT validation failed: %s (connection_id=%s, user_id=%s)",
                exc,
                connection_id,
                user_id,
            )
            await ws.close(code=1011, reason="Internal error")
            return
        await _serve(ws, ctx)
    finally:
        base._active_connections.discard(connection_id)


async def _serve(ws: WebSocket, ctx: Any) -> None:
    try:
        while True:
            message = await ws.receive_json()
            await handle_message(ws, ctx, message)
    except WebSocketDisconnect as exc:
        log.info("WebSocket disconnected: code=%s", exc.code)
    except AgentFailed:
        # agent runs are supervised by the connection: a failed run takes the socket down
        await ws.close(code=1011, reason="Internal error")
    except Exception as exc:
        log.error("Message handler error: %r (connection_id=%s)", exc, ctx.connection_id)
        sys.stderr.write(traceback.format_exc())
        sys.stderr.flush()
        log.info("Closing connection: main cleanup")
        await ws.close(code=1000, reason="main cleanup")


# --- HTTP ----------------------------------------------------------------------------------------


async def agents(request: Request) -> JSONResponse:
    return JSONResponse({"agents": list(AGENT_RUN_S)})


async def discovery_services(request: Request) -> JSONResponse:
    try:
        _reader, writer = await asyncio.open_connection(Redis.host, Redis.port)
    except OSError as exc:
        log.error("Service discovery failed: %r (redis=%s:%d)", exc, Redis.host, Redis.port)
        sys.stderr.write(traceback.format_exc())
        sys.stderr.flush()
        return JSONResponse({"error": "internal error"}, status_code=500)
    writer.close()
    return JSONResponse({"services": []})


async def _loop_lag_monitor(period_s: float = 0.1) -> None:
    """Housekeeping that notices when something blocks the event loop (it carries no ids)."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(period_s)
        lag = loop.time() - before - period_s
        if lag > LOOP_LAG_WARN_S:
            logging.getLogger("chat.loop").warning("Event loop blocked for %.2fs", lag)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    startup = logging.getLogger("chat.startup")
    if os.environ.get("REDIS_HOST"):
        Redis.host = os.environ["REDIS_HOST"]
    else:
        startup.warning("REDIS_HOST is not set; falling back to %s:%d", Redis.host, Redis.port)
    startup.info("Agent registry loaded: %d agents (%s)", len(AGENT_RUN_S), ", ".join(AGENT_RUN_S))
    tasks = [
        asyncio.create_task(base._heartbeat_sweep(2.5)),
        asyncio.create_task(_loop_lag_monitor()),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def create_app() -> ASGIApp:
    starlette = Starlette(
        routes=[
            Route("/health", base.health),
            Route("/api/agents/", agents),
            Route("/api/discovery/services", discovery_services),
            WebSocketRoute("/ws", chat_socket),
        ],
        lifespan=lifespan,
    )
    return base.CloudRunFrontend(starlette)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--redis-port", type=int, default=6379, help="fallback Redis port")
    parser.add_argument(
        "--require-redis-host",
        action="store_true",
        help="the next revision: refuse to start without REDIS_HOST",
    )
    args = parser.parse_args(argv)
    base.configure_logging()
    Redis.port = args.redis_port
    if args.require_redis_host and not os.environ.get("REDIS_HOST"):
        try:
            raise RuntimeError("REDIS_HOST is not set")
        except RuntimeError:
            traceback.print_exc()
            # 3, as gunicorn's arbiter exits when a worker fails to boot
            sys.exit(3)
    uvicorn.run(
        create_app(),
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        ws="websockets-sansio",
        lifespan="on",
    )


if __name__ == "__main__":
    main()
