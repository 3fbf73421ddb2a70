"""The attacker's tools for the hardening tests (issue 14), all on loopback and bounded.

Each attack runs against the reference server and against a *bare* server: the same stack
(FastAPI on uvicorn with uvloop, httptools and websockets-sansio) with uvicorn's own protocols
and none of our limits, so that every test shows the attack working where the fix is absent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import psutil
import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from reference_server.transport import ChatProtocol
from tests.redis_server import free_port
from tests.reference_server.clients import WAIT, T

OP_CONT, OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x8, 0x9, 0xA


def bare_app() -> FastAPI:
    """A chat-shaped app with none of our limits: /healthz, /docs and an echo endpoint."""
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws/chat/{room}")
    async def chat(ws: WebSocket, room: str) -> None:
        await ws.accept()
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await ws.send_text(await ws.receive_text())

    return app


def bare_config(port: int = 0) -> dict[str, Any]:
    """uvicorn options of the bare server: the reference server's stack, uvicorn's protocols."""
    return {"loop": "uvloop", "http": "httptools", "ws": "websockets-sansio", "port": port}


@contextlib.contextmanager
def running_bare() -> Iterator[tuple[str, uvicorn.Server]]:
    """The bare server on a thread of this process: (ws:// base URL, its uvicorn.Server)."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(bare_app(), log_config=None, log_level="critical", **bare_config())
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_until(lambda: server.started, WAIT)
        yield f"ws://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        thread.join(WAIT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(WAIT)
        sock.close()


def _wait_until(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)  # polling a server's start, bounded by the deadline
    assert condition(), "server did not start"


def write_buffers(server: uvicorn.Server) -> list[int]:
    """Bytes waiting in the write buffer of each WebSocket connection of `server` now."""
    return [
        conn.transport.get_write_buffer_size()
        for conn in list(server.server_state.connections)
        if hasattr(conn, "conn") and conn.transport is not None  # WebSocket protocols
    ]


def held_fragments(server: uvicorn.Server) -> int:
    """The most frames of one unfinished message any WebSocket connection of `server` holds."""
    return max(
        (len(getattr(c, "frames", ())) for c in list(server.server_state.connections)), default=0
    )


def chat_protocols(server: uvicorn.Server) -> list[ChatProtocol]:
    """The reference server's WebSocket connections."""
    return [c for c in list(server.server_state.connections) if isinstance(c, ChatProtocol)]


# -- subprocess servers (for descriptor limits and memory) -------------------------------------


class ServerProcess:
    """`chatbench serve` ("reference") or the bare app ("bare") in a process of its own, with
    its descriptor limit (soft and hard) set to `nofile` when given."""

    def __init__(self, kind: str, env: dict[str, str] | None = None, nofile: int = 0) -> None:
        self.port = free_port()
        if kind == "reference":
            args = ["-m", "harness.cli", "serve", "--port", str(self.port)]
        else:
            args = ["-c", _BARE_MAIN.format(port=self.port)]
        self.args = [sys.executable, *args]
        self.env = {**os.environ, **(env or {})}
        self.nofile = nofile
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """ws:// base URL."""
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerProcess:
        limit = self.nofile
        self.proc = subprocess.Popen(
            self.args,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=(lambda: _limit_nofile(limit)) if limit else None,
        )
        _wait_until(lambda: _answers(self.port) or self.proc.poll() is not None, 30 * T)
        assert self.proc.poll() is None, self.stderr()
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10 * T)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stderr is not None:
            self._stderr = proc.stderr.read().decode(errors="replace")
            proc.stderr.close()

    def stderr(self) -> str:
        """What the process wrote to stderr (complete once it exited)."""
        return getattr(self, "_stderr", "")

    def rss(self) -> int:
        """Resident memory of the process now, in bytes."""
        assert self.proc is not None
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def peak_rss(self) -> int:
        """The most resident memory the process has had (Linux VmHWM), in bytes."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM in /proc (not Linux?)")


_BARE_MAIN = (
    "import uvicorn; from tests.reference_server.attacks import bare_app, bare_config; "
    "uvicorn.run(bare_app(), log_level='critical', host='127.0.0.1', **bare_config({port}))"
)


@contextlib.contextmanager
def alone(name: str, timeout: float = 120.0) -> Iterator[None]:
    """Hold a lock shared by every pytest worker on this machine (tests that measure latency
    must not overlap the floods of other such tests); bounded wait."""
    path = os.path.join(tempfile.gettempdir(), f"chatbench-{name}.lock")
    with open(path, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, f"lock {path} held for {timeout} s"
                time.sleep(0.05)  # polling a lock another worker holds, bounded
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _limit_nofile(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


# -- raw sockets ---------------------------------------------------------------------------


def upgrade_request(
    base: str, path: str, headers: bytes = b"", complete: bool = True, host: str = ""
) -> bytes:
    """A WebSocket upgrade request for `path` (everything but the final CRLF unless
    `complete`)."""
    key = base64.b64encode(os.urandom(16)).decode()
    host = host or base.removeprefix("ws://")
    head = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    ).encode()
    return head + headers + (b"\r\n" if complete else b"")


async def open_raw(base: str, rcvbuf: int | None = None) -> socket.socket:
    """A connected non-blocking TCP socket to the server of `base`."""
    host, port = base.removeprefix("ws://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(
            asyncio.get_running_loop().sock_connect(sock, (host, int(port))), WAIT
        )
    except BaseException:
        sock.close()
        raise
    return sock


async def send(sock: socket.socket, data: bytes, timeout: float = WAIT) -> bool:
    """Send `data`; False when the server closed (reset or broken pipe) or stopped reading."""
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_sendall(sock, data), timeout)
    except (ConnectionError, TimeoutError):
        return False
    return True


async def ended_by_server(sock: socket.socket, timeout: float) -> bool:
    """True when the server ends the connection (FIN or RST) within `timeout`; whatever it
    sent before is read and dropped."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            while await loop.sock_recv(sock, 1 << 16):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def response_status(sock: socket.socket, timeout: float = WAIT) -> int | None:
    """The status of the HTTP response the server sends, or None if it sends none in time."""
    loop = asyncio.get_running_loop()
    head = b""
    try:
        async with asyncio.timeout(timeout):
            while b"\r\n" not in head:
                chunk = await loop.sock_recv(sock, 4096)
                if not chunk:
                    break
                head += chunk
    except (TimeoutError, ConnectionError):
        pass
    parts = head.split(b" ", 2)
    return int(parts[1]) if head.startswith(b"HTTP/1.1 ") and len(parts) > 1 else None


def frame(opcode: int, payload: bytes = b"", fin: bool = True) -> bytes:
    """One masked client frame (RFC 6455 5.2)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        length = bytes([0x80 | n])
    elif n < 65536:
        length = bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        length = bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return bytes([first]) + length + mask + masked


class FrameReader:
    """Server frames from a raw socket whose handshake response has been read."""

    def __init__(self, sock: socket.socket, buffered: bytes = b"") -> None:
        self.sock = sock
        self.buffer = bytearray(buffered)
        self.at = 0  # parsed up to here (the buffer is compacted as a whole chunk is used)

    async def next(self, timeout: float = WAIT) -> tuple[int, bytes] | None:
        """(opcode, payload) of the next frame; None when the connection ended first."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while (parsed := self._parse()) is None:
                try:
                    chunk = await loop.sock_recv(self.sock, 1 << 16)
                except ConnectionError:
                    return None
                if not chunk:
                    return None
                del self.buffer[: self.at]
                self.at = 0
                self.buffer += chunk
        return parsed

    async def close_code(self, timeout: float = WAIT) -> int | None:
        """The code of the server's close frame (other frames skipped); None if none came
        within `timeout` or the connection ended without one."""
        try:
            async with asyncio.timeout(timeout):
                while (got := await self.next(timeout)) is not None:
                    opcode, payload = got
                    if opcode == OP_CLOSE:
                        return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        except TimeoutError:
            pass
        return None

    def _parse(self) -> tuple[int, bytes] | None:
        data, start = self.buffer, self.at
        if len(data) < start + 2:
            return None
        n, at = data[start + 1] & 0x7F, start + 2
        if n == 126:
            n, at = int.from_bytes(data[at : at + 2], "big"), at + 2
        elif n == 127:
            n, at = int.from_bytes(data[at : at + 8], "big"), at + 8
        if len(data) < at + n:
            return None
        self.at = at + n
        return data[start] & 0x0F, bytes(data[at : at + n])


async def raw_member(base: str, room: str, name: str, rcvbuf: int | None = None) -> FrameReader:
    """A member over a raw socket: handshake done, its frames readable with the reader."""
    sock = await open_raw(base, rcvbuf)
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, upgrade_request(base, f"/ws/chat/{room}?username={name}"))
    head = b""
    async with asyncio.timeout(WAIT):
        while b"\r\n\r\n" not in head:
            chunk = await loop.sock_recv(sock, 1)  # byte by byte: leave the frames unread
            assert chunk, "server closed during handshake"
            head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return FrameReader(sock)
