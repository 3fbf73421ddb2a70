"""A flooding chat client, run as a process of its own: `python -m tests.reference_server.flooder
URL ROOM SECONDS`. It joins ROOM over a raw socket and sends `{"text":"f"}` frames as fast as
the server takes them (reading and dropping what the server sends, so it is never a slow
consumer) until SECONDS pass or the server closes it; then prints
`{"sent": FRAMES, "close_code": CODE or null}` on stdout.
"""

from __future__ import annotations

import base64
import json
import os
import select
import socket
import sys
import time

FRAME = bytes([0x81, 0x80 | 12]) + b"\0\0\0\0" + b'{"text":"f"}'  # masked with a zero key
BATCH = FRAME * 1000


def _connect(url: str, room: str) -> socket.socket:
    host, port = url.removeprefix("ws://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws/chat/{room}?username=flooder HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise SystemExit("closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise SystemExit(f"refused: {head[:40]!r}")
    sock.setblocking(False)
    return sock


def _close_code(data: bytearray) -> int | None:
    """The code of a close frame among the server's frames in `data` (parsed ones dropped)."""
    pos = 0
    while len(data) >= pos + 2:
        n, at = data[pos + 1] & 0x7F, pos + 2
        if n == 126:
            n, at = int.from_bytes(data[at : at + 2], "big"), at + 2
        elif n == 127:
            n, at = int.from_bytes(data[at : at + 8], "big"), at + 8
        if len(data) < at + n:
            break
        if data[pos] & 0x0F == 0x8:
            return int.from_bytes(data[at : at + 2], "big") if n >= 2 else 1005
        pos = at + n
    del data[:pos]
    return None


def flood(url: str, room: str, seconds: float) -> dict[str, int | None]:
    """Flood until `seconds` pass or the server closes the connection."""
    sock = _connect(url, room)
    view, at, sent, code = memoryview(BATCH), 0, 0, None
    received = bytearray()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and code is None:
            readable, writable, _ = select.select([sock], [sock], [], 0.05)
            if readable:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                received += chunk
                code = _close_code(received)
            if writable and code is None:
                n = sock.send(view[at:])
                sent, at = sent + n, (at + n) % len(BATCH)
    except OSError:
        pass  # reset by the server
    finally:
        sock.close()
    return {"sent": sent // len(FRAME), "close_code": code}


if __name__ == "__main__":
    print(json.dumps(flood(sys.argv[1], sys.argv[2], float(sys.argv[3]))), flush=True)
