"""Test clients for the reference server: real WebSockets, raw sockets, HTTP; every wait bounded."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect

T = float(os.environ.get("CHATBENCH_TIMEOUT_FACTOR", "1"))
"""Multiply every timeout by CHATBENCH_TIMEOUT_FACTOR on slow machines."""
WAIT = 5.0 * T


def chat_url(base: str, room: str, username: str | None = None) -> str:
    """The chat endpoint URL of `room` (percent-encoded) for `username`."""
    url = f"{base}/ws/chat/{quote(room, safe='')}"
    return url if username is None else f"{url}?username={quote(username, safe='')}"


async def join(base: str, room: str, username: str | None = None, **kw: Any) -> ClientConnection:
    """Connect, check the first frame is a welcome for `room`, and return the connection."""
    ws = await asyncio.wait_for(connect(chat_url(base, room, username), **kw), WAIT)
    welcome = await recv(ws)
    assert welcome["type"] == "welcome" and welcome["room"] == room, welcome
    ws.welcome = welcome  # type: ignore[attr-defined]
    return ws


async def recv(ws: ClientConnection, timeout: float = WAIT) -> dict[str, Any]:
    """The next event, as a dict (text frames only)."""
    frame = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(frame, str), f"binary frame from server: {frame!r}"
    event = json.loads(frame)
    assert isinstance(event, dict)
    return event


async def recv_until(
    ws: ClientConnection, pred: Callable[[dict[str, Any]], bool], timeout: float = WAIT
) -> list[dict[str, Any]]:
    """Events up to and including the first that satisfies `pred`."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            seen.append(await recv(ws, timeout))
            if pred(seen[-1]):
                return seen


def system(message: str) -> Callable[[dict[str, Any]], bool]:
    """Predicate: the system event `message`."""
    return lambda e: e == {"type": "system", "message": message}


async def say(ws: ClientConnection, text: str) -> None:
    """Send a chat message."""
    await ws.send(json.dumps({"text": text}))


async def assert_silent(ws: ClientConnection, wait: float = 0.3) -> None:
    """Nothing arrives within `wait` s (used after a synchronising event, never to sync)."""
    try:
        frame = await asyncio.wait_for(ws.recv(), wait)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected frame {frame!r}")


async def closed_code(ws: ClientConnection, timeout: float = WAIT) -> int | None:
    """Read until the server closes; the close code it sent."""
    async with asyncio.timeout(timeout):
        try:
            while True:
                await ws.recv()
        except Exception:
            pass
        await ws.wait_closed()
    return ws.close_code


async def get_json(base: str, path: str) -> Any:
    """GET http://... `path` on the server of ws URL `base`, as JSON."""
    url = base.replace("ws://", "http://", 1) + path

    def fetch() -> Any:
        with urllib.request.urlopen(url, timeout=WAIT) as resp:
            return json.loads(resp.read())

    return await asyncio.to_thread(fetch)


async def raw_join(base: str, room: str, username: str, rcvbuf: int | None = None) -> socket.socket:
    """A raw TCP socket that completes the WebSocket handshake by hand and reads nothing more.

    It answers no pings and drains nothing: the socket a stuck or vanished client leaves behind.
    """
    host, port = base.removeprefix("ws://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    key = base64.b64encode(os.urandom(16)).decode()
    path = chat_url("", room, username)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    try:
        async with asyncio.timeout(WAIT):
            await loop.sock_connect(sock, (host, int(port)))
            await loop.sock_sendall(sock, request.encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = await loop.sock_recv(sock, 1)  # byte by byte: leave the welcome unread
                assert chunk, "server closed during handshake"
                head += chunk
    except BaseException:
        sock.close()
        raise
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


async def raw_wait_closed(sock: socket.socket, timeout: float = WAIT) -> None:
    """Drain `sock` until the server ends the TCP connection (FIN or RST)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        try:
            while await loop.sock_recv(sock, 1 << 16):
                pass
        except ConnectionResetError:
            pass


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame (RFC 6455 5.2) with a payload under 64 KiB."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    if len(payload) < 126:
        head = bytes([0x80 | opcode, 0x80 | len(payload)])
    else:
        head = bytes([0x80 | opcode, 0x80 | 126]) + len(payload).to_bytes(2, "big")
    return head + mask + masked
