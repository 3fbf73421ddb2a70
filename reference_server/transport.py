"""The uvicorn WebSocket protocol the server runs on, with a handle on its TCP connection.

ASGI has no way to abort a connection, but a client that stops reading cannot receive a close
frame: its socket is full, so a polite close never completes and asyncio's transport.close()
waits for the buffer to drain forever. The chat server therefore runs on uvicorn's
websockets-sansio protocol extended with a `TransportControl` in the ASGI scope
(scope["extensions"][EXTENSION]) that can wait for the connection to end and abort it. The
same handle lets a member write encoded frames straight to the transport (reference_server.member).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

EXTENSION = "chatbench.transport"


class TransportControl:
    """What a connection handler may do to its TCP connection."""

    def __init__(self, protocol: ChatProtocol) -> None:
        self._protocol = protocol

    def can_write(self) -> bool:
        """True while the WebSocket is open and the transport is not pushing back."""
        p = self._protocol
        return p.writable.is_set() and not p.disconnected and p.conn.state is State.OPEN

    def write(self, data: bytes) -> None:
        """Write encoded frames (whole frames only: uvicorn's own frames go in between)."""
        self._protocol.transport.write(data)

    async def wait_writable(self) -> None:
        """Wait until the transport takes data again (or the connection is lost)."""
        await self._protocol.writable.wait()

    def abort(self) -> None:
        """Drop the TCP connection now, discarding unsent data."""
        self._protocol.transport.abort()

    async def wait_lost(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the connection to end; True if it did."""
        try:
            async with asyncio.timeout(timeout):
                await self._protocol.lost.wait()
        except TimeoutError:
            return False
        return True


class ChatProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, plus a TransportControl and a bounded close."""

    close_timeout_s = 2.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lost = asyncio.Event()
        # uvicorn waits this long for the peer's close reply before closing the transport.
        self.close_timeout = self.close_timeout_s

    async def run_asgi(self) -> None:
        """Run the app with the TransportControl in its scope."""
        extensions: dict[str, Any] = self.scope["extensions"]
        extensions[EXTENSION] = TransportControl(self)
        await super().run_asgi()

    def connection_lost(self, exc: Exception | None) -> None:
        """Record that the connection ended (the writer may be waiting on a full buffer)."""
        super().connection_lost(exc)
        self.lost.set()

    def keepalive_timeout(self) -> None:
        """Pong overdue (leave.half-open): uvicorn closes; make sure the close cannot hang."""
        super().keepalive_timeout()
        self.loop.call_later(self.close_timeout_s, self._abort_if_open)

    def _abort_if_open(self) -> None:
        if not self.lost.is_set():
            self.transport.abort()


def protocol_class(close_timeout: float) -> type[ChatProtocol]:
    """A ChatProtocol whose close handshakes end within `close_timeout` seconds."""
    return type("ChatProtocol", (ChatProtocol,), {"close_timeout_s": close_timeout})
