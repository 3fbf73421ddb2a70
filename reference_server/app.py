"""The FastAPI app: the chat endpoint of protocol v1, /healthz and /stats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, WebSocket
from fastapi.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send

from harness.gcfreeze import Collector
from harness.protocol import is_valid_room_id, sanitize_username
from reference_server import metrics
from reference_server.connection import Connection
from reference_server.descriptors import open_count
from reference_server.hub import Hub
from reference_server.member import Member
from reference_server.page import PAGE, page_origins
from reference_server.settings import Settings
from reference_server.state import ChatState, origin_allowed

POLICY = 1008
TRY_AGAIN_LATER = 1013


CHAT_PREFIX = "/ws/chat/"


class ChatApp(FastAPI):
    """FastAPI, with the chat socket served before its middleware and router.

    Every layer a connection passes through keeps a suspended coroutine frame (and FastAPI's
    route two exit stacks, Starlette's a second WebSocket object) for as long as it lives:
    about 10 KiB a member, doing nothing (bench part 5). `/ws/chat/{room_id}` goes straight to
    `chat_handler`, as the route would; everything else (HTTP, other paths) goes through FastAPI.
    """

    chat_handler: Callable[[WebSocket, str], Awaitable[None]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch a chat WebSocket directly; anything else to FastAPI."""
        room = chat_room(scope) if self.chat_handler is not None else None
        if room is None or self.chat_handler is None:
            await super().__call__(scope, receive, send)
            return
        await self.chat_handler(WebSocket(scope, receive, send), room)


def chat_room(scope: Scope) -> str | None:
    """The `{room_id}` of a WebSocket scope on /ws/chat/{room_id} (one path segment, as the
    route's parameter), else None."""
    if scope["type"] != "websocket" or scope.get("root_path"):
        return None
    path: str = scope["path"]
    room = path[len(CHAT_PREFIX) :] if path.startswith(CHAT_PREFIX) else ""
    return room if room and "/" not in room else None


def create_app(settings: Settings | None = None, hub: Hub | None = None) -> FastAPI:
    """A reference chat server app; its ChatState is `app.state.chat`."""
    state = ChatState(settings or Settings(), hub)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.start()
        collector = Collector(
            lambda: len(state.members), lambda: state.stats.connections_total - len(state.members)
        )
        collector.start(asyncio.get_running_loop())
        await state.hub.start()
        try:
            yield
        finally:
            collector.stop()
            await state.hub.stop()

    # No /docs, /redoc or /openapi.json: the server documents nothing it does not mean to serve.
    app = ChatApp(
        title="chatbench reference server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.chat = state

    @app.websocket("/ws/chat/{room_id}")
    async def chat(ws: WebSocket, room_id: str) -> None:
        await _serve(state, ws, room_id)

    app.chat_handler = chat

    if state.settings.chat_page:

        @app.get("/", response_class=HTMLResponse)
        async def chat_page() -> HTMLResponse:
            return HTMLResponse(PAGE.html, headers={"Content-Security-Policy": PAGE.policy})

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return _health(state)

    registry = metrics.registry_for(state)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(registry), media_type=metrics.CONTENT_TYPE)

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        rooms, members = state.hub.counts()
        s = state.stats
        return {
            "rooms": rooms,
            "members": members,
            "connections": len(state.members),
            "connections_total": s.connections_total,
            "messages_relayed": s.messages_relayed,
            "queue_overflows": s.queue_overflows,
            "refused": s.refused,
            "rate_limited": s.rate_limited,
            "flooders_closed": s.flooders_closed,
            "handshakes_waiting": state.doorway.waiting,
            "handshakes_timed_out": state.doorway.timed_out,
            "handshakes_shed": state.doorway.shed,
            "requests_too_large": state.doorway.too_large,
        }

    return app


def _health(state: ChatState) -> dict[str, Any]:
    """/healthz: status, descriptors, the Redis link (its host and node only with details)."""
    body: dict[str, Any] = {"status": "closing" if state.closing else "ok"}
    body["descriptors"] = {"limit": state.descriptors.limit, "open": open_count()}
    health = getattr(state.hub, "health", None)  # a RedisHub: the state of its link
    if health is not None:
        body["redis"] = health(state.settings.healthz_details)
        if body["redis"]["redis"] != "ok" and not state.closing:
            body["status"] = "degraded"  # serving this process's members only
    return body


async def _serve(state: ChatState, ws: WebSocket, room_id: str) -> None:
    """Refuse what protocol v1 refuses, then run the connection as a member."""
    settings = state.settings
    # room.invalid, origin.foreign: closing before accept answers the handshake with HTTP 403.
    origin, host = ws.headers.get("origin"), ws.headers.get("host")
    allowed = settings.allowed_origins
    if settings.page_origin:
        allowed = (*allowed, *page_origins(ws.scope.get("server")))
    if not is_valid_room_id(room_id) or not origin_allowed(
        origin, host, allowed, settings.same_host_origin
    ):
        state.stats.refused += 1
        await ws.close(POLICY)
        return
    if state.at_limit():
        state.stats.refused += 1
        await ws.accept()
        await ws.close(TRY_AGAIN_LATER, "connection limit reached")
        return
    name = sanitize_username(ws.query_params.get("username"))
    member = Member(name, room_id, settings.queue_size)
    state.admit(member)
    try:
        await ws.accept()
        await Connection(ws, member, state.hub, settings, state.stats, state.vacate).run()
    finally:
        state.release(member)
