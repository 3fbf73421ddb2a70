"""A lean WebSocket client for measuring: websockets' sans-I/O protocol on an asyncio.Protocol.

No reader task, queue or future per frame: frames are parsed in `data_received` and handed
to a callback with the receive time, which keeps the driver's cost per delivery low enough
to stay far from saturation while the server is pushed to its limit.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from urllib.parse import quote

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

OnText = Callable[["Member", bytes | bytearray | memoryview, int], None]


def chat_url(base: str, room: str, username: str) -> str:
    """The protocol v1 endpoint URL of `room` for `username` on server `base` (ws://host:port)."""
    return f"{base}/ws/chat/{quote(room, safe='')}?username={quote(username, safe='')}"


class Member(asyncio.Protocol):
    """One chat connection: handshake, then every complete text frame goes to `on_text`."""

    def __init__(self, index: int, url: str, on_text: OnText) -> None:
        self.index = index
        self.url = url
        self.on_text = on_text
        self.proto = ClientProtocol(parse_uri(url), max_size=None)
        self.transport: asyncio.Transport | None = None
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self._fragments: list[bytes] = []
        # Filled in by the driver from protocol events.
        self.online = 0
        self.joined = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.proto.send_request(self.proto.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        self.proto.receive_data(data)
        for event in self.proto.events_received():
            if isinstance(event, Frame):
                self._frame(event, now)
            elif isinstance(event, Response):
                self._handshake_done()
        self._flush()

    def _frame(self, frame: Frame, now: int) -> None:
        if frame.opcode is Opcode.TEXT and frame.fin:
            self.on_text(self, frame.data, now)
        elif frame.opcode in (Opcode.TEXT, Opcode.CONT):
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                data, self._fragments = b"".join(self._fragments), []
                self.on_text(self, data, now)

    def _handshake_done(self) -> None:
        if self.handshake.done():
            return
        if self.proto.handshake_exc is not None:
            self.handshake.set_exception(self.proto.handshake_exc)
        else:
            self.handshake.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(exc or ConnectionError("closed during handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def send_text(self, text: str) -> None:
        """Send one text frame now (no await: the transport buffers)."""
        self.proto.send_text(text.encode())
        self._flush()

    def _flush(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        for data in self.proto.data_to_send():
            if data:
                self.transport.write(data)
            else:
                self.transport.write_eof()

    def close(self) -> None:
        """Drop the TCP connection (the benchmark's clean-up, not a protocol test)."""
        if self.transport is not None:
            self.transport.abort()


async def open_member(index: int, url: str, on_text: OnText, timeout: float = 10.0) -> Member:
    """Connect `url` and complete the WebSocket handshake."""
    loop = asyncio.get_running_loop()
    uri = parse_uri(url)
    _, member = await asyncio.wait_for(
        loop.create_connection(lambda: Member(index, url, on_text), uri.host, uri.port), timeout
    )
    await asyncio.wait_for(member.handshake, timeout)
    return member


async def open_stalled_member(url: str, rcvbuf: int = 4096, timeout: float = 10.0) -> socket.socket:
    """A member that completes the handshake and then never reads (tiny receive buffer).

    The caller keeps the socket open; the server's writes to it back up from there.
    """
    loop = asyncio.get_running_loop()
    uri = parse_uri(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    proto = ClientProtocol(uri)
    proto.send_request(proto.connect())
    async with asyncio.timeout(timeout):
        await loop.sock_connect(sock, (uri.host, uri.port))
        await loop.sock_sendall(sock, b"".join(proto.data_to_send()))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await loop.sock_recv(sock, 1)  # byte by byte: read the handshake only
            if not chunk:
                raise ConnectionError("closed during handshake")
            head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        sock.close()
        raise ConnectionError(f"handshake refused: {head.splitlines()[0]!r}")
    return sock
