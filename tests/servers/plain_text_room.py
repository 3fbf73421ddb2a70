"""A plain-text chat on the websockets library: one room for everybody, IRC-like lines.

`ws://HOST:PORT/?name=N` (a missing or empty name is refused with HTTP 400, another path with
404). The others get `* N has joined` and `* N has left`; a client sends raw text, and every
member, the sender too, gets `<N> TEXT` (the text as sent, new lines included). A binary frame
gets the sender `! text frames only`. No welcome. Each member has a bounded outbox drained by
its own writer task; one that overflows is announced as left and closed with 1008, so a member
that stops reading never stalls the room. websockets pings every `ping_interval` seconds and
drops a member that does not answer within `ping_timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

OUTBOX_SIZE = 1024
"""Frames a member may have waiting (the reference server's queue_size): message.order sends
400 at once to each member, and with 256 a member whose writer fell behind on a busy CI box was
evicted as a slow consumer mid-case."""


class Room:
    """Everybody connected, with one bounded outbox each."""

    def __init__(self, outbox_size: int) -> None:
        self.outbox_size = outbox_size
        self.outboxes: dict[ServerConnection, asyncio.Queue[str]] = {}
        self.names: dict[ServerConnection, str] = {}
        self.kicks: set[asyncio.Task[None]] = set()

    def enter(self, websocket: ServerConnection, name: str) -> asyncio.Queue[str]:
        self.say(f"* {name} has joined")
        outbox: asyncio.Queue[str] = asyncio.Queue(self.outbox_size)
        self.outboxes[websocket] = outbox
        self.names[websocket] = name
        return outbox

    def leave(self, websocket: ServerConnection) -> None:
        if self.outboxes.pop(websocket, None) is not None:
            self.say(f"* {self.names.pop(websocket)} has left")

    def say(self, line: str) -> None:
        for websocket, outbox in list(self.outboxes.items()):
            try:
                outbox.put_nowait(line)
            except asyncio.QueueFull:
                self.kick(websocket)

    def kick(self, websocket: ServerConnection) -> None:
        """Drop a member that reads too slowly; close() aborts it after close_timeout (10 s)."""
        self.leave(websocket)
        task = asyncio.create_task(websocket.close(1008, "slow consumer"))
        self.kicks.add(task)
        task.add_done_callback(self.kicks.discard)


def requested_name(request: Request) -> str:
    """The `name` query parameter, "" when missing."""
    values = parse_qs(urlsplit(request.path).query).get("name", [""])
    return values[0]


def check_request(websocket: ServerConnection, request: Request) -> Response | None:
    """Refuse other paths (404) and a missing name (400) before the upgrade."""
    if urlsplit(request.path).path != "/":
        return websocket.respond(HTTPStatus.NOT_FOUND, "no such path\n")
    if not requested_name(request):
        return websocket.respond(HTTPStatus.BAD_REQUEST, "?name= is required\n")
    return None


async def write(websocket: ServerConnection, outbox: asyncio.Queue[str]) -> None:
    """Send the outbox's lines in order until the connection closes."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await websocket.send(await outbox.get())


def handler_for(room: Room) -> Callable[[ServerConnection], Awaitable[None]]:
    """The connection handler for `room`."""

    async def chat(websocket: ServerConnection) -> None:
        assert websocket.request is not None
        name = requested_name(websocket.request)
        writer = asyncio.create_task(write(websocket, room.enter(websocket, name)))
        try:
            async for line in websocket:
                if websocket not in room.outboxes:
                    break  # kicked as a slow consumer
                if isinstance(line, str):
                    room.say(f"<{name}> {line}")
                else:
                    with contextlib.suppress(asyncio.QueueFull):
                        room.outboxes[websocket].put_nowait("! text frames only")
        except ConnectionClosed:
            pass
        finally:
            room.leave(websocket)
            writer.cancel()

    return chat


@contextmanager
def running_plain_text_room(
    *,
    outbox_size: int = OUTBOX_SIZE,
    ping_interval: float | None = 20,
    ping_timeout: float | None = 20,
    timeout: float = 15.0,
) -> Iterator[str]:
    """Serve the room on 127.0.0.1 in a thread; yields `ws://127.0.0.1:PORT` (connect /?name=N).

    ping_interval and ping_timeout go to websockets' serve (seconds; None: no pings).
    """
    loop = asyncio.new_event_loop()
    started = threading.Event()
    ports: list[int] = []
    stop = asyncio.Event()

    async def main() -> None:
        async with serve(
            handler_for(Room(outbox_size)),
            "127.0.0.1",
            0,
            process_request=check_request,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
        ) as server:
            ports.append(server.sockets[0].getsockname()[1])
            started.set()
            await stop.wait()

    thread = threading.Thread(target=_run, args=(loop, main(), started), daemon=True)
    thread.start()
    try:
        if not started.wait(timeout) or not ports:
            raise RuntimeError(f"plain-text room did not start within {timeout} s")
        yield f"ws://127.0.0.1:{ports[0]}"
    finally:
        with contextlib.suppress(RuntimeError):  # the loop is gone already
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError("plain-text room did not stop")


def _run(
    loop: asyncio.AbstractEventLoop, main: Coroutine[Any, Any, None], started: threading.Event
) -> None:
    try:
        loop.run_until_complete(main)
    finally:
        started.set()  # a start-up failure must not leave the caller waiting
        loop.close()
