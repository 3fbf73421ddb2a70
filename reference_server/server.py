"""Running the app on uvicorn: the configuration we chose and a shutdown that says 1001."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

import uvicorn
from fastapi import FastAPI

from reference_server.app import create_app
from reference_server.handshake import guarded_protocol_class
from reference_server.hub import Hub
from reference_server.settings import Settings
from reference_server.state import ChatState
from reference_server.transport import WireLimits, protocol_class

log = logging.getLogger("reference_server")


def uvicorn_config(app: FastAPI, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """uvloop + httptools (guarded: reference_server.handshake), websockets-sansio with a
    TransportControl, limits from `settings`."""
    state: ChatState = app.state.chat
    options: dict[str, Any] = {
        "loop": "uvloop",
        "http": guarded_protocol_class(state.doorway),
        "ws": protocol_class(wire_limits(settings)),
        "ws_max_size": settings.max_frame_bytes,  # limit.frame-size: bigger frames close 1009
        "ws_ping_interval": settings.ping_interval,
        "ws_ping_timeout": settings.ping_timeout,
        # Compression would cost one deflate per member per frame: the opposite of fan-out.
        "ws_per_message_deflate": False,
        "lifespan": "on",
        "log_level": settings.log_level,
        "access_log": False,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


def wire_limits(settings: Settings) -> WireLimits:
    """The WebSocket protocol's limits from `settings`."""
    return WireLimits(
        settings.close_timeout,
        settings.max_fragments,
        settings.message_timeout,
        settings.max_unsent_bytes,
    )


class ChatServer(uvicorn.Server):
    """uvicorn.Server that first closes every chat client with 1001 (shutdown.going-away).

    uvicorn's own shutdown closes WebSockets with 1012; we close ours first. `started_event`
    is set once the server listens (the embedded runner waits on it).
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        app: Any = config.app
        self.chat: ChatState = app.state.chat
        self.started_event = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start listening, then tell whoever waits."""
        await super().startup(sockets=sockets)
        if self.started:
            self.started_event.set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop accepting, close every member with 1001 and wait for them, then uvicorn's."""
        for server in self.servers:
            server.close()
        timeout = self.chat.settings.shutdown_timeout
        if not await self.chat.close_all(timeout):
            log.warning("connections still open %.1f s after the 1001 close", timeout)
        await super().shutdown(sockets=sockets)


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: an ephemeral port); OSError if it cannot."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def build_server(settings: Settings, hub: Hub | None = None, **config_overrides: Any) -> ChatServer:
    """A ChatServer for a fresh app with `settings` (and `hub`: default a LocalHub)."""
    return ChatServer(uvicorn_config(create_app(settings, hub), settings, **config_overrides))
