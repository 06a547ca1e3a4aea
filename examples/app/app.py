"""A small chat backend that behaves like a Cloud Run service, to produce fivewhys' demo data.

It has real bugs on purpose (see examples/README.md), logs one JSON object per line on stdout in
Cloud Run's structured-logging format, and writes Python tracebacks to stderr. The
``CloudRunFrontend`` middleware stands in for the parts of Cloud Run that sit in front of the
container: it propagates ``X-Cloud-Trace-Context`` (or assigns a trace, as Google's frontend does)
and writes one request-log line per HTTP request or WebSocket connection when it ends.

Run: ``python examples/app/app.py --port 0`` (the bound port is in the "Uvicorn running on" line).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import secrets
import sys
import time
import traceback
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

PROJECT_ID = "fivewhys-example"
#: The service's public URL; Cloud Run request logs show it rather than the container address.
PUBLIC_URL = "https://chat-backend-4f7kq2xnba-uc.a.run.app"
CHAT_SUBPROTOCOL = "chat.v1"
AGENTS = ("triage", "summarizer", "planner")

_trace: ContextVar[str | None] = ContextVar("trace", default=None)
_span: ContextVar[str | None] = ContextVar("span", default=None)
_connection_id: ContextVar[str | None] = ContextVar("connection_id", default=None)
_user_id: ContextVar[str | None] = ContextVar("user_id", default=None)

_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}

log = logging.getLogger("chat.ws")
frontend_log = logging.getLogger("cloudrun.frontend")
_active_connections: set[str] = set()


def rfc3339(epoch_s: float) -> str:
    """RFC 3339 UTC with microseconds and ``Z``, the form Cloud Logging prints."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CloudRunJsonFormatter(logging.Formatter):
    """One JSON object per record, with the special keys Cloud Run lifts into the LogEntry."""

    def format(self, record: logging.LogRecord) -> str:
        request_log: dict[str, Any] | None = getattr(record, "request_log", None)
        if request_log is not None:
            entry: dict[str, Any] = {
                "_request_log": request_log,
                "timestamp": rfc3339(getattr(record, "request_start", record.created)),
            }
            self._add_trace(entry)
            return json.dumps(entry, separators=(",", ":"))
        entry = {
            "severity": _SEVERITY.get(record.levelno, "DEFAULT"),
            "message": record.getMessage(),
            "timestamp": rfc3339(record.created),
            "logger": record.name,
        }
        self._add_trace(entry)
        connection_id, user_id = _connection_id.get(), _user_id.get()
        if connection_id:
            entry["connection_id"] = connection_id
        if user_id:
            entry["user_id"] = user_id
        return json.dumps(entry, separators=(",", ":"))

    @staticmethod
    def _add_trace(entry: dict[str, Any]) -> None:
        trace, span = _trace.get(), _span.get()
        if trace:
            entry["logging.googleapis.com/trace"] = f"projects/{PROJECT_ID}/traces/{trace}"
        if span:
            entry["logging.googleapis.com/spanId"] = span


class _DropUvicornAccessLines(logging.Filter):
    """Uvicorn logs WebSocket handshakes like access logs; Cloud Run's request log covers them."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not (msg.startswith('%s - "WebSocket') or msg == "connection open")


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudRunJsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("uvicorn.error").addFilter(_DropUvicornAccessLines())


# --- Cloud Run frontend stand-in -----------------------------------------------------------------


def parse_trace_header(value: str | None) -> tuple[str, str, bool] | None:
    """``TRACE_ID/SPAN_ID;o=1`` -> (32-hex trace, 16-hex span, sampled); span is decimal there."""
    if not value or "/" not in value:
        return None
    trace, _, rest = value.partition("/")
    span_dec, _, options = rest.partition(";")
    if len(trace) != 32 or not span_dec.isdigit():
        return None
    return trace.lower(), f"{int(span_dec) & (2**64 - 1):016x}", options.strip() == "o=1"


class CloudRunFrontend:
    """Trace propagation plus one request-log line per request, written when the request ends.

    A WebSocket's request log has status 101 and the connection's whole lifetime as latency; a
    handshake the app closes before accepting is answered 403 by uvicorn, and logged as 403.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = time.time()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        parsed = parse_trace_header(headers.get("x-cloud-trace-context"))
        if parsed is None:  # Google's frontend assigns a trace to untraced requests.
            parsed = (secrets.token_hex(16), f"{secrets.randbits(64):016x}", False)
        trace, span, sampled = parsed
        tokens = (_trace.set(trace), _span.set(span))
        status: int | None = None
        response_size = 0

        async def tracking_send(message: Message) -> None:
            nonlocal status, response_size
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                status = int(message["status"])
            elif kind == "websocket.accept":
                status = 101
            elif kind == "websocket.close" and status is None:
                status = 403
            elif kind == "http.response.body":
                response_size += len(message.get("body", b""))
            elif kind == "websocket.send":
                response_size += len(message.get("text") or message.get("bytes") or b"")
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            request_size = sum(len(k) + len(v) + 4 for k, v in scope["headers"])
            query = scope.get("query_string", b"").decode("latin-1")
            frontend_log.info(
                "request",
                extra={
                    "request_start": started,
                    "request_log": {
                        "requestMethod": scope.get("method", "GET"),
                        "requestUrl": PUBLIC_URL + scope["path"] + (f"?{query}" if query else ""),
                        "requestSize": str(request_size),
                        "status": status if status is not None else 500,
                        "responseSize": str(response_size),
                        "userAgent": headers.get("user-agent", ""),
                        "remoteIp": (scope.get("client") or ("0.0.0.0", 0))[0],
                        "latency": f"{time.time() - started:.6f}s",
                        "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
                        "traceSampled": sampled,
                    },
                },
            )
            _span.reset(tokens[1])
            _trace.reset(tokens[0])


# --- auth and user context -----------------------------------------------------------------------


class AuthError(Exception):
    """The handshake's credentials are unusable; the connection is refused."""


class FactoryValidationError(Exception):
    """The per-connection execution factory rejected the user context (the SSOT check)."""


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def decode_jwt(token: str) -> dict[str, Any]:
    """Claims of an HS256-shaped JWT. Signature checking is out of scope for the demo."""
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthError("malformed JWT")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
    except ValueError as exc:
        raise AuthError("undecodable JWT") from exc
    if header.get("alg") != "HS256" or not isinstance(claims, dict):
        raise AuthError("unsupported JWT")
    return claims


def token_from_subprotocols(offered: list[str]) -> str | None:
    """Browsers cannot set headers on WebSockets, so the JWT rides in ``jwt.<token>``."""
    return next((p.removeprefix("jwt.") for p in offered if p.startswith("jwt.")), None)


@dataclass(frozen=True)
class UserContext:
    """What every handler of a connection may rely on; built once by the factory."""

    user_id: str
    connection_id: str
    email: str
    plan: str
    thread_id: str


REQUIRED_CONTEXT_FIELDS = ("email", "plan", "thread_id")


def build_user_context(claims: Mapping[str, Any], connection_id: str) -> UserContext:
    """The execution factory's single source of truth check.

    Bug on purpose: a freshly signed-up user has no default thread yet, and nothing bootstraps
    one before this check runs, so their first connection always fails here.
    """
    for field in REQUIRED_CONTEXT_FIELDS:
        if not claims.get(field):
            raise FactoryValidationError(f"user context missing {field!r}")
    return UserContext(
        user_id=str(claims["sub"]),
        connection_id=connection_id,
        email=str(claims["email"]),
        plan=str(claims["plan"]),
        thread_id=str(claims["thread_id"]),
    )


# --- handlers ------------------------------------------------------------------------------------


async def handle_message(ws: WebSocket, ctx: UserContext, message: Mapping[str, Any]) -> None:
    kind = message.get("type")
    if kind == "ping":
        await ws.send_json({"type": "pong", "server_time": rfc3339(time.time())})
    elif kind == "chat_message":
        await ws.send_json(
            {
                "type": "chat_message",
                "role": "assistant",
                "thread_id": ctx.thread_id,
                "message_id": f"msg_{secrets.token_hex(6)}",
                "text": f"echo: {message.get('text', '')}",
            }
        )
    elif kind == "start_agent":
        # Bug on purpose: protocol v1 clients send "agent"; a refactor renamed the key here.
        agent = message["agent_name"]
        await ws.send_json({"type": "agent_started", "agent": agent, "thread_id": ctx.thread_id})
    else:
        await ws.send_json({"type": "error", "error": f"unsupported message type: {kind}"})


async def chat_socket(ws: WebSocket) -> None:
    offered: list[str] = list(ws.scope.get("subprotocols", []))
    token = token_from_subprotocols(offered)
    try:
        if token is None:
            raise AuthError("missing token")
        claims = decode_jwt(token)
    except AuthError as exc:
        log.warning("WebSocket auth rejected: %s", exc)
        await ws.close(code=1008)
        return
    user_id = str(claims.get("sub", ""))
    _user_id.set(user_id)
    if float(claims.get("exp", 0)) < time.time():
        log.warning("WebSocket auth rejected: JWT expired for user_id=%s", user_id)
        await ws.close(code=1008)
        return

    connection_id = f"conn_{secrets.token_hex(6)}"
    _connection_id.set(connection_id)
    await ws.accept(subprotocol=CHAT_SUBPROTOCOL if CHAT_SUBPROTOCOL in offered else None)
    _active_connections.add(connection_id)
    log.info("WebSocket connection accepted")
    try:
        await ws.send_json(
            {"type": "connection_established", "connection_id": connection_id, "user_id": user_id}
        )
        try:
            ctx = build_user_context(claims, connection_id)
        except FactoryValidationError as exc:
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
        _active_connections.discard(connection_id)


async def _serve(ws: WebSocket, ctx: UserContext) -> None:
    try:
        while True:
            message = await ws.receive_json()
            await handle_message(ws, ctx, message)
    except WebSocketDisconnect as exc:
        log.info("WebSocket disconnected: code=%s", exc.code)
    except Exception as exc:
        log.error("Message handler error: %r (connection_id=%s)", exc, ctx.connection_id)
        sys.stderr.write(traceback.format_exc())
        sys.stderr.flush()
        log.info("Closing connection: main cleanup")
        await ws.close(code=1000, reason="main cleanup")


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "active_connections": len(_active_connections)})


async def _heartbeat_sweep(period_s: float) -> None:
    """Background noise without any ids, like a real service's housekeeping."""
    while True:
        await asyncio.sleep(period_s)
        logging.getLogger("chat.housekeeping").info(
            "Heartbeat sweep: %d active connections", len(_active_connections)
        )


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    startup = logging.getLogger("chat.startup")
    startup.info("Redis pool ready (max_connections=20)")
    startup.info("Agent registry loaded: %d agents (%s)", len(AGENTS), ", ".join(AGENTS))
    sweep = asyncio.create_task(_heartbeat_sweep(2.5))
    try:
        yield
    finally:
        sweep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweep
        startup.info("Redis pool closed")


def create_app() -> ASGIApp:
    starlette = Starlette(
        routes=[Route("/health", health), WebSocketRoute("/ws", chat_socket)],
        lifespan=lifespan,
    )
    return CloudRunFrontend(starlette)


app = create_app()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    configure_logging()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        ws="websockets-sansio",
        lifespan="on",
    )


if __name__ == "__main__":
    main()
