"""A protocol v1 chat server with the chat lesson's first pitfall: a memory leak from
disconnected sockets. Run it as its own process, so `--server-pid` sees only it:

    python -m tests.fakes.leaky_server [--keep-bytes 65536] [--keep-fds]

It prints `ws://127.0.0.1:PORT` on stdout once it listens. It is tests/fakes/chat_server.py's
correct server, except that every connection that ends is kept in a list: its socket (with
`--keep-fds`, a duplicate of the descriptor stays open, as a socket object never closed) and a
buffer of `--keep-bytes` bytes, written to so it is resident. `--keep-bytes 0` without
`--keep-fds` keeps nothing: a correct server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys

from websockets.asyncio.server import ServerConnection, serve

from harness.protocol import MAX_FRAME_BYTES
from tests.fakes.chat_server import FakeChatServer


class LeakyChatServer(FakeChatServer):
    """FakeChatServer that keeps what every ended connection had."""

    def __init__(self, keep_bytes: int, keep_fds: bool) -> None:
        super().__init__(frozenset())
        self.keep_bytes, self.keep_fds = keep_bytes, keep_fds
        self.kept: list[tuple[socket.socket | None, bytearray]] = []

    async def handler(self, ws: ServerConnection) -> None:
        """Serve the member, then keep its socket and a buffer forever (the leak)."""
        sock = ws.transport.get_extra_info("socket")
        held = socket.socket(fileno=os.dup(sock.fileno())) if self.keep_fds and sock else None
        try:
            await super().handler(ws)
        finally:
            self.kept.append((held, bytearray(b"\xa5") * self.keep_bytes))


async def main(keep_bytes: int, keep_fds: bool) -> None:
    """Listen on a free loopback port until killed."""
    server = LeakyChatServer(keep_bytes, keep_fds)
    async with serve(
        server.handler,
        "127.0.0.1",
        0,
        process_request=server.process_request,
        max_size=MAX_FRAME_BYTES,
        ping_interval=1,
        ping_timeout=2,
        close_timeout=1,
    ) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        print(f"ws://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep-bytes", type=int, default=65536)
    parser.add_argument("--keep-fds", action="store_true")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.keep_bytes, args.keep_fds))
    except KeyboardInterrupt:
        sys.exit(0)
