"""A small chat server of a shape protocol v1 is not, with faults to switch on: for showing
that `chatbench load --profile` still catches a server's faults (and is clean without them).

Plain text, no welcome, no echo: a member connects to `/talk?nick=N` (one room for
everybody) or, with `rooms=True`, to `/talk/ROOM?nick=N`; every OTHER member of its room gets
`N: TEXT` for each text it sends, and `-- N left` when it goes. `PROFILE` (and `ROOMS_PROFILE`)
describe it. Faults: `drop` (every fourth message is not sent to one of its recipients),
`duplicate` (every fourth message goes twice to each recipient), `leak` (with rooms: every
fourth message also goes to every other room). `header=(name, value)` refuses (403) a
handshake without that header.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import urllib.parse
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

PROFILE = """
name = "shaped"
description = "plain text, one room, no welcome, no echo"
[connect]
url = "/talk?nick={username}"
rooms = false
settle = 0.3
[send]
frame = "{text:raw}"
[receive]
format = "text"
message = { regex = '^(?P<user>[^:]+): (?P<text>.*)$' }
left = { regex = '^-- (?P<user>.+) left$' }
[behaviour]
welcome = false
announces_join = false
echo = false
"""
ROOMS_PROFILE = PROFILE.replace(
    'url = "/talk?nick={username}"\nrooms = false', 'url = "/talk/{room}?nick={username}"'
)


class Chat:
    """Members by room, and the faults to commit."""

    def __init__(self, faults: set[str], header: tuple[str, str] | None) -> None:
        self.faults = faults
        self.header = header
        self.rooms: defaultdict[str, set[ServerConnection]] = defaultdict(set)
        self.count = itertools.count()

    def check(self, conn: ServerConnection, request: Request) -> Response | None:
        """Refuse a handshake elsewhere than /talk (404) or without the required header (403)."""
        if not request.path.startswith("/talk"):
            return conn.respond(HTTPStatus.NOT_FOUND, "no such path\n")
        if self.header is not None and request.headers.get(self.header[0]) != self.header[1]:
            return conn.respond(HTTPStatus.FORBIDDEN, "missing header\n")
        return None

    async def handle(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        url = urllib.parse.urlsplit(conn.request.path)
        room = url.path.removeprefix("/talk").strip("/")
        nick = urllib.parse.parse_qs(url.query).get("nick", ["?"])[0]
        self.rooms[room].add(conn)
        try:
            async for text in conn:
                if isinstance(text, str):
                    await self.relay(conn, room, f"{nick}: {text}")
        except ConnectionClosed:
            pass
        finally:
            self.rooms[room].discard(conn)
            await self.send(self.rooms[room], f"-- {nick} left")

    async def relay(self, sender: ServerConnection, room: str, line: str) -> None:
        n = next(self.count)
        faulty = n % 4 == 3
        others = [c for c in self.rooms[room] if c is not sender]
        if faulty and "drop" in self.faults and others:
            others = others[1:]
        if faulty and "leak" in self.faults:
            others += [c for r, members in self.rooms.items() if r != room for c in members]
        await self.send(others, line)
        if faulty and "duplicate" in self.faults:
            await self.send(others, line)

    @staticmethod
    async def send(members: Any, line: str) -> None:
        for member in list(members):
            with contextlib.suppress(ConnectionClosed):
                await asyncio.wait_for(member.send(line), 5)


@contextmanager
def running_shaped(
    faults: set[str] | frozenset[str] = frozenset(),
    header: tuple[str, str] | None = None,
    timeout: float = 15.0,
) -> Iterator[str]:
    """Serve on 127.0.0.1 in a thread; yields `ws://127.0.0.1:PORT`."""
    chat = Chat(set(faults), header)
    loop = asyncio.new_event_loop()
    started, ports, stop = threading.Event(), [], asyncio.Event()

    async def main() -> None:
        async with serve(chat.handle, "127.0.0.1", 0, process_request=chat.check) as server:
            ports.append(server.sockets[0].getsockname()[1])
            started.set()
            await stop.wait()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        finally:
            started.set()  # a start-up failure must not leave the caller waiting
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        if not started.wait(timeout) or not ports:
            raise RuntimeError(f"the shaped server did not start within {timeout} s")
        yield f"ws://127.0.0.1:{ports[0]}"
    finally:
        with contextlib.suppress(RuntimeError):  # the loop is gone already
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
