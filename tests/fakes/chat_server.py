"""A small protocol v1 chat server with injectable faults, for showing that checks can fail.

It is a test fixture, not a mode of the reference server: a correct server when `faults` is
empty, and each named fault breaks one rule the way real servers break it. Quirks make it a
correct server that is merely different (slower, late): every check must still pass it. Built on
plain `websockets` so it shares no code with the reference server.

    with running_fake(faults={"loss"}) as url:   # url = "ws://127.0.0.1:PORT"
        ...
    with running_fake(quirks={"late-broadcast"}) as url:
        ...
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.http11 import Request, Response

from harness.protocol import (
    MAX_FRAME_BYTES,
    MAX_TEXT_CHARS,
    FrameError,
    is_valid_room_id,
    parse_client_message,
    sanitize_username,
)

FAULTS = {
    # delivery ledger (one message in EVERY per recipient is affected)
    "loss": "drops a message to one recipient now and then",
    "duplicate": "sends a message twice to one recipient now and then",
    "reorder": "swaps two consecutive messages of a sender for one recipient now and then",
    "leak": "also sends a message to a member of another room now and then",
    # membership
    "ghost-on-abrupt": "keeps members whose TCP connection ends without a close frame",
    "ghost-on-reset": "keeps members whose TCP connection is reset (RST) without a close frame",
    "ghost-on-fin": "keeps members whose TCP connection ends with a FIN and no close frame",
    "no-welcome": "never sends welcome",
    "welcome-miscount": "welcome's online is one too many",
    "announce-self": "the joiner also gets its own `joined`",
    "no-join-announce": "nobody hears `joined`",
    "no-leave-announce": "nobody hears `left` on a clean close",
    # messages
    "no-echo": "the sender does not get its own message",
    "no-relay": "welcomes and announces members, but relays no message at all",
    "alter-text": "strips white space from texts",
    "case-fold-rooms": "room ids are lower-cased",
    "bad-schema": "online is sent as a string",
    "history": "replays the room's last HISTORY_MESSAGES messages to each joiner after its welcome",
    # input and limits
    "crash-on-bad-json": "an invalid frame kills the connection's handler without cleanup",
    "no-error-event": "invalid frames are ignored silently",
    "no-size-limit": "accepts frames of any size",
    "raw-username": "does not sanitize usernames",
    "no-default-username": "a missing username stays empty",
    # flow and liveness
    "sequential-send": "awaits each member's send in turn (one stuck reader stalls the room)",
    "send-timeout-evict": "sends to members in turn, giving a stuck one 3 s before evicting it",
    "drop-while-stuck": "while a member's queue is full, drops the room's messages for 2 s",
    "no-ping": "never pings, so silent half-open clients stay forever",
    "accept-foreign-origin": "accepts any Origin",
    "origin-from-host": "accepts an http(s) Origin naming the Host header's host (DNS rebinding)",
    "origin-any-scheme": "accepts an Origin of any scheme naming the Host header's host (ftp://)",
    "accept-invalid-room": "accepts any room id, even invalid ones",
    "honor-extra-fields": "a client's own `user` field replaces its name (spoofing)",
    "no-evict": "never evicts: a stuck member's queue grows without bound",
    "no-rate-limit": "relays every message of a flooding client, however fast it sends (and "
    "queues without bound, so the flood's watcher is never evicted)",
    "evict-wrong-code": "evicts a slow consumer with close code 1011 instead of 1008",
    # misbehaving servers (the harness must not hang on them)
    "silent": "completes the handshake, then never sends anything",
    "close-at-once": "completes the handshake, then closes at once (1000)",
    "close-after": "closes every member with 1011 CLOSE_AFTER_S seconds after it joined",
    "garbage": "completes the handshake, then sends garbage (non-JSON text and binary frames)",
    "flood": "welcomes, then floods the member with messages of a ghost as fast as it can",
}

QUIRKS = {
    "slow-inbound": "spends 20 ms on each frame a client sends (50 messages/s per sender)",
    "late-broadcast": "delivers every event 20 ms late",
}

EVERY = 10
REORDER_HOLD_S = 1.0
"""reorder: how long a held message waits for the next one (then goes out in order). Longer
than `chatbench load`'s 0.2 s between two messages of a sender in its tests, or on a busy
machine the timer wins and nothing is reordered."""
QUEUE_FRAMES = 1024  # as the reference server's default: 400 messages at once fit
STUCK_QUEUE_FRAMES = 100  # drop-while-stuck: a small queue, so a stuck member shows soon
SEND_TIMEOUT_S = 3.0
DROP_WINDOW_S = 2.0
QUIRK_DELAY_S = 0.02
SEQUENTIAL = frozenset({"sequential-send", "send-timeout-evict"})
PATIENT = frozenset({"slow-inbound", "send-timeout-evict"})
HISTORY_MESSAGES = 50
RATE, BURST = 100.0, 1000
"""flow.rate-limit: messages per second per connection, and at once (as the reference server)."""
CLOSE_AFTER_S = 1.5


class _Crash(Exception):
    """The handler dies the way an unguarded receive_json() does."""


@dataclass(eq=False)
class _Member:
    ws: ServerConnection
    name: str
    room: str
    queue: asyncio.Queue[tuple[float, str]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_FRAMES)
    )
    """(when due, frame): frames wait here for the member's writer."""
    received: int = 0
    held: str | None = None
    writer: asyncio.Task[None] | None = None
    evicted: bool = False
    tokens: float = BURST
    stamp: float = 0.0

    def allowed(self, now: float) -> bool:
        """flow.rate-limit: a token bucket of BURST messages refilled at RATE per second."""
        self.tokens = min(BURST, self.tokens + (now - self.stamp) * RATE) if self.stamp else BURST
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class FakeChatServer:
    """Protocol v1 rooms and fan-out with the given faults (and quirks) switched on."""

    def __init__(self, faults: frozenset[str], quirks: frozenset[str] = frozenset()) -> None:
        unknown = (faults - FAULTS.keys()) | (quirks - QUIRKS.keys())
        if unknown:
            raise ValueError(f"unknown faults or quirks {sorted(unknown)}")
        self.faults = faults | quirks
        self.sequential = bool(faults & SEQUENTIAL)
        self.rooms: dict[str, dict[ServerConnection, _Member]] = {}
        self.dropping: dict[str, float] = {}  # drop-while-stuck: room -> end of its drop window
        self.tasks: set[asyncio.Task[None]] = set()  # evictions under way (kept referenced)
        self.history: dict[str, collections.deque[str]] = {}

    def has(self, fault: str) -> bool:
        return fault in self.faults

    # -- handshake -------------------------------------------------------------------------

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        room = self._room(request.path)
        if room is None or not (is_valid_room_id(room) or self.has("accept-invalid-room")):
            return conn.respond(HTTPStatus.FORBIDDEN, "invalid room id\n")
        origin = request.headers.get("Origin")
        if origin is not None and not self._origin_ok(origin, request.headers.get("Host")):
            return conn.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        return None

    def _origin_ok(self, origin: str, host: str | None) -> bool:
        """origin.foreign: this fake serves no browser page, so no Origin is its own."""
        if self.has("accept-foreign-origin"):
            return True
        parts = urllib.parse.urlsplit(origin)
        if self.has("origin-from-host") and parts.scheme in ("http", "https"):
            return parts.netloc == host
        return self.has("origin-any-scheme") and parts.netloc == host

    def _room(self, path: str) -> str | None:
        parts = urllib.parse.urlsplit(path)
        if not parts.path.startswith("/ws/chat/"):
            return None
        room = urllib.parse.unquote(parts.path[len("/ws/chat/") :])
        return room.lower() if self.has("case-fold-rooms") else room

    def _username(self, path: str) -> str:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        requested = query.get("username", [""])[0]
        if self.has("no-default-username"):
            return sanitize_username(requested) if requested else ""
        if self.has("raw-username"):
            return requested or "Anonymous"
        return sanitize_username(requested)

    # -- delivery --------------------------------------------------------------------------

    def _deliver(self, member: _Member, frame: str) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + (QUIRK_DELAY_S if self.has("late-broadcast") else 0)
        try:
            member.queue.put_nowait((due, frame))
        except asyncio.QueueFull:
            if self.has("drop-while-stuck"):
                self._stuck(member)
            elif not member.evicted:
                member.evicted = True
                self._spawn(self._evict(member))

    def _stuck(self, member: _Member) -> None:
        """drop-while-stuck: the room loses its messages for a while, then the member goes."""
        if self.dropping.get(member.room, 0) > asyncio.get_running_loop().time():
            return
        loop = asyncio.get_running_loop()
        self.dropping[member.room] = loop.time() + DROP_WINDOW_S
        loop.call_later(DROP_WINDOW_S, lambda: self._spawn(self._evict(member)))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _evict(self, member: _Member) -> None:
        """Announce the slow consumer as left, drop what it has queued, close it with 1008."""
        member.evicted = True
        await self._leave(member, announce=True)
        code = 1011 if self.has("evict-wrong-code") else 1008
        with contextlib.suppress(ConnectionClosed):
            await member.ws.close(code, "slow consumer")

    async def _writer(self, member: _Member) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                due, frame = await member.queue.get()
                late = due - asyncio.get_running_loop().time()
                if late > 0:
                    await asyncio.sleep(late)
                await member.ws.send(frame)

    async def _broadcast(self, room: str, frame: str, skip: _Member | None = None) -> None:
        for member in list(self.rooms.get(room, {}).values()):
            if member is skip or member.evicted:
                continue
            if self.has("send-timeout-evict"):
                await self._send_or_evict(member, frame)
            elif self.has("sequential-send"):
                with contextlib.suppress(ConnectionClosed):
                    await member.ws.send(frame)
            else:
                self._deliver(member, frame)

    async def _send_or_evict(self, member: _Member, frame: str) -> None:
        try:
            await asyncio.wait_for(member.ws.send(frame), SEND_TIMEOUT_S)
        except TimeoutError:
            if not member.evicted:
                member.evicted = True
                self._spawn(self._evict(member))
        except ConnectionClosed:
            pass

    def _relay(self, sender: _Member, frame: str) -> None:
        """Fan a message out, with the ledger faults applied to recipients but the sender."""
        if self.dropping.get(sender.room, 0) > asyncio.get_running_loop().time():
            return  # drop-while-stuck: nobody gets it
        if self.has("no-relay"):
            return
        for member in list(self.rooms.get(sender.room, {}).values()):
            if member is sender:
                if not self.has("no-echo"):
                    self._deliver(member, frame)
                continue
            member.received += 1
            nth = member.received % EVERY == 0
            if nth and self.has("loss"):
                continue
            if nth and self.has("reorder") and member.held is None:
                member.held = frame  # goes out after the next message, or soon if none comes
                asyncio.get_running_loop().call_later(REORDER_HOLD_S, self._release, member)
                continue
            self._deliver(member, frame)
            if member.held is not None:
                self._deliver(member, member.held)
                member.held = None
            if nth and self.has("duplicate"):
                self._deliver(member, frame)
            if nth and self.has("leak"):
                self._leak(sender.room, frame)

    def _release(self, member: _Member) -> None:
        if member.held is not None:
            self._deliver(member, member.held)
            member.held = None

    def stop_writers(self) -> None:
        """Cancel every writer task, ghosts' included, before the event loop goes."""
        for members in self.rooms.values():
            for member in members.values():
                if member.writer:
                    member.writer.cancel()

    def _leak(self, room: str, frame: str) -> None:
        for other_room, members in self.rooms.items():
            if other_room != room and members:
                self._deliver(next(iter(members.values())), frame)
                return

    # -- connection ------------------------------------------------------------------------

    async def handler(self, ws: ServerConnection) -> None:
        """Serve one member from join to leave."""
        if self.faults & {"silent", "close-at-once", "garbage", "flood"}:
            await self._misbehave(ws)
            return
        path = ws.request.path if ws.request else "/"
        room = self._room(path) or ""
        member = _Member(ws, self._username(path), room)
        if self.has("no-evict") or self.has("no-rate-limit"):
            # no-rate-limit: the flood's watcher is never evicted, however a batch of the
            # flooder's frames read at once fills its queue (CI saw it closed with 1008)
            member.queue = asyncio.Queue()
        elif self.has("drop-while-stuck"):
            member.queue = asyncio.Queue(STUCK_QUEUE_FRAMES)
        members = self.rooms.setdefault(room, {})
        members[ws] = member
        member.writer = asyncio.get_running_loop().create_task(self._writer(member))
        await self._join(member, len(members))
        if self.has("close-after"):
            asyncio.get_running_loop().call_later(CLOSE_AFTER_S, self._close_later, ws)
        leave = True
        try:
            async for frame in ws:
                if self.has("slow-inbound"):
                    await asyncio.sleep(QUIRK_DELAY_S)
                await self._on_frame(member, frame)
        except ConnectionClosedError:
            leave = not self._ghost(ws)
        except _Crash:
            leave = False  # the handler dies without cleanup: a ghost member
            await ws.close(1011, "internal error")
        finally:
            if leave:
                await self._leave(member, announce=not self.has("no-leave-announce"))

    def _ghost(self, ws: ServerConnection) -> bool:
        """Whether a ghost fault keeps this member whose connection ended without a close."""
        if ws.protocol.close_rcvd is not None or ws.protocol.close_sent is not None:
            return False
        # why the TCP connection ended (websockets 15 calls it recv_exc, 16 connection_exc)
        cause = getattr(ws, "connection_exc", getattr(ws, "recv_exc", None))
        reset = isinstance(cause, ConnectionResetError)
        return self.has("ghost-on-abrupt") or self.has(
            "ghost-on-reset" if reset else "ghost-on-fin"
        )

    async def _misbehave(self, ws: ServerConnection) -> None:
        """The connection-level faults: no protocol at all after the handshake."""
        if self.has("close-at-once"):
            await ws.close(1000)
            return
        if self.has("flood"):
            await self._flood(ws)
            return
        if self.has("garbage"):
            await ws.send("\x00garbage{{{")
            await ws.send(b"\xde\xad\xbe\xef")
        with contextlib.suppress(ConnectionClosed):
            async for frame in ws:
                if self.has("garbage"):
                    await ws.send(f"<html>{len(frame)}</html>")

    async def _flood(self, ws: ServerConnection) -> None:
        room = self._room(ws.request.path if ws.request else "/") or ""
        await ws.send(orjson.dumps({"type": "welcome", "room": room, "online": 1}).decode())
        frame = orjson.dumps({"type": "message", "user": "ghost", "text": "x", "room": room})
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.send(frame.decode())

    def _close_later(self, ws: ServerConnection) -> None:
        asyncio.get_running_loop().create_task(ws.close(1011, "internal error"))

    async def _join(self, member: _Member, online: int) -> None:
        if self.has("welcome-miscount"):
            online += 1
        welcome: dict[str, Any] = {"type": "welcome", "room": member.room, "online": online}
        if self.has("bad-schema"):
            welcome["online"] = str(online)
        if self.has("no-welcome"):
            pass
        elif self.sequential:  # the same path as the joined events, so in order
            await member.ws.send(orjson.dumps(welcome).decode())
        else:
            self._deliver(member, orjson.dumps(welcome).decode())
        for old in self.history.get(member.room, ()):
            self._deliver(member, old)
        joined = orjson.dumps({"type": "system", "message": f"{member.name} joined"}).decode()
        if not self.has("no-join-announce"):
            skip = None if self.has("announce-self") else member
            await self._broadcast(member.room, joined, skip=skip)

    async def _leave(self, member: _Member, announce: bool) -> None:
        members = self.rooms.get(member.room, {})
        if members.pop(member.ws, None) is None:
            return
        if member.writer:
            member.writer.cancel()
        if not members:
            self.rooms.pop(member.room, None)
        if announce:
            left = orjson.dumps({"type": "system", "message": f"{member.name} left"}).decode()
            await self._broadcast(member.room, left)

    async def _on_frame(self, member: _Member, frame: str | bytes) -> None:
        if not self.has("no-rate-limit") and not member.allowed(asyncio.get_running_loop().time()):
            error = {"type": "error", "code": "rate_limited", "message": "slow down"}
            self._deliver(member, orjson.dumps(error).decode())
            return
        try:
            text = parse_client_message(frame, max_text=MAX_TEXT_CHARS).text
        except FrameError as exc:
            if self.has("crash-on-bad-json"):
                raise _Crash from exc
            if not self.has("no-error-event"):
                error = {"type": "error", "code": exc.code, "message": exc.detail}
                self._deliver(member, orjson.dumps(error).decode())
            return
        if self.has("alter-text"):
            text = text.strip()
        event = {"type": "message", "user": member.name, "text": text, "room": member.room}
        if self.has("honor-extra-fields"):
            spoofed = orjson.loads(frame).get("user")
            event["user"] = spoofed if isinstance(spoofed, str) else member.name
        frame_out = orjson.dumps(event).decode()
        if self.has("history"):
            room = self.history.setdefault(member.room, collections.deque(maxlen=HISTORY_MESSAGES))
            room.append(frame_out)
        if self.sequential:
            await self._broadcast(member.room, frame_out)
        else:
            self._relay(member, frame_out)


def _serving(server: FakeChatServer) -> Any:
    """websockets' server on a free loopback port, with the fake's settings."""
    no_ping = server.has("no-ping")
    return serve(
        server.handler,
        "127.0.0.1",
        0,
        process_request=server.process_request,
        max_size=None if server.has("no-size-limit") else MAX_FRAME_BYTES,
        ping_interval=None if no_ping else 1,
        # these read a sender's pong only after a backlog of frames: patient, like uvicorn
        ping_timeout=None if no_ping else (20 if server.faults & PATIENT else 2),
        # patient as a correct server on a busy machine: a stuck member evicted with 1008
        # reads its backlog before the close frame (flow.evict); 1 s failed that once in CI
        close_timeout=5,
    )


@contextlib.contextmanager
def running_fake(
    faults: set[str] | frozenset[str] = frozenset(),
    timeout: float = 10,
    quirks: set[str] | frozenset[str] = frozenset(),
    server: FakeChatServer | None = None,
) -> Iterator[str]:
    """Run a FakeChatServer on 127.0.0.1 in a background thread; yield its `ws://` base URL.
    `server`: this one (a subclass, say) instead of one with `faults` and `quirks`."""
    server = server or FakeChatServer(frozenset(faults), frozenset(quirks))
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    port: list[int] = []

    async def main() -> None:
        async with _serving(server) as ws_server:
            port.append(ws_server.sockets[0].getsockname()[1])
            ready.set()
            await stop.wait()
            server.stop_writers()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(timeout):
        raise RuntimeError("fake chat server did not start")
    try:
        yield f"ws://127.0.0.1:{port[0]}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)


@contextlib.contextmanager
def fake_process(faults: set[str] | frozenset[str] = frozenset()) -> Iterator[str]:
    """Run a FakeChatServer in a process of its own (a GIL of its own: for checks judged on
    throughput); yield its `ws://` base URL; kill it afterwards."""
    from tests.load.servers import server_process

    argv = [sys.executable, "-m", "tests.fakes.chat_server", *(f"--fault={f}" for f in faults)]
    with server_process(argv, "ws://127.0.0.1:") as (_, url):
        yield url


async def _serve_forever(faults: frozenset[str]) -> None:
    async with _serving(FakeChatServer(faults, frozenset())) as ws_server:
        print(f"ws://127.0.0.1:{ws_server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve a FakeChatServer until killed.")
    parser.add_argument("--fault", action="append", default=[], choices=sorted(FAULTS))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(frozenset(parser.parse_args().fault)))
