"""A recording WebSocket client: every frame into the transcript, every event validated.

Each received frame is validated by the profile (`ChatProtocol.validate`: protocol v1's event
schema for v1) and read by the connection's `Session` into an `Event`; a frame that breaks
the profile's format is a `schema.events` violation raised by the next wait on that client.
Frames the protocol answers itself (a Socket.IO ping) are answered here.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from harness.check.transcript import Transcript, shorten
from harness.check.verdicts import ServerViolation
from harness.profile import JOINED, LEFT, MESSAGE, WELCOME, ChatProtocol, Event, Session

Match = Callable[[Event], bool]
Drop = Literal["rst", "fin"]
UNDERLYING_CLOSE_TIMEOUT = 2.0
"""Seconds a browser waits, after the closing handshake, for the server to end TCP (Chromium's
kUnderlyingConnectionCloseTimeout) before it drops the connection itself."""
_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, drops unsent
MAX_EVENTS = 20_000
"""Events one client keeps in one case (the largest case needs 2,500): a server that floods a
member past it fails the case, and the harness's memory stays bounded."""


class Waits:
    """What the case is waiting on from the server now (tells a slow server from a harness bug)."""

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.interrupted: list[str] = []
        """Server waits cut short by cancellation (the case budget), innermost first."""

    @contextlib.contextmanager
    def on(self, what: str) -> Iterator[None]:
        """Mark the body as waiting on the server for `what`."""
        self.pending.append(what)
        try:
            yield
        except asyncio.CancelledError:
            self.interrupted.append(what)
            raise
        finally:
            self.pending.remove(what)


class Client:
    """One harness member: its connection, the events it received and how it was closed."""

    def __init__(
        self,
        ws: ClientConnection,
        label: str,
        room: str,
        name: str,
        log: Transcript,
        waits: Waits,
        protocol: ChatProtocol,
        session: Session,
    ) -> None:
        self.ws, self.label, self.room, self.name = ws, label, room, name
        self.log, self.waits = log, waits
        self.protocol, self.session = protocol, session
        self.history: list[Event] = []
        self.arrivals: list[float] = []
        """`time.monotonic()` when each event of `history` arrived."""
        self.trim_texts: int | None = None
        """Keep only this many characters of each message text (floods: bounded memory)."""
        self.cursor = 0
        """Index in `history` after the last event consumed by `expect`."""
        self.violation: ServerViolation | None = None
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        """Code of the close frame received; None while open or when none came (TCP drop)."""
        self.on_act: Callable[[], None] = lambda: None
        """Told when this client acts on the server (sends, closes, drops, stops reading)."""
        self._news = asyncio.Event()
        self.frames = 0
        """Frames received, events or not (a waiter's news)."""
        self._reader = asyncio.get_running_loop().create_task(self._read())

    # -- receiving ---------------------------------------------------------------------------

    async def start(self, timeout: float) -> None:
        """Send what the profile sends right after the handshake (its join frames)."""
        for frame in self.session.start():
            await self.send(frame, timeout, act=False)

    async def until_ready(self, timeout: float) -> None:
        """Wait (bounded) until the session has sent its join frames (Socket.IO: after the
        server acknowledged the connect)."""
        deadline = time.monotonic() + timeout
        while not self.session.ready and not self.closed.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or (not await self.news(left) and time.monotonic() >= deadline):
                return

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                self._on_frame(frame)
                if self.session.replies:
                    await self._reply()
        except ConnectionClosed:
            pass
        finally:
            self._on_closed()

    async def _reply(self) -> None:
        replies, self.session.replies = self.session.replies, []
        for frame in replies:
            self.log.add(self.label, "send", frame)
            await asyncio.wait_for(self.ws.send(frame), 5)

    def _on_frame(self, frame: str | bytes) -> None:
        data = frame if isinstance(frame, str) else f"<binary {len(frame)} bytes> {frame[:64]!r}"
        self.log.add(self.label, "recv", data)
        problem = self.protocol.validate(frame)
        if problem is not None and self.violation is None:
            self.violation = ServerViolation(
                f"{self.label} received an invalid event: {problem}",
                expected=f"a frame of the {self.protocol.name} protocol (schema.events)",
                observed=shorten(data, 200),
                clause="schema.events",
            )
            self.log.add(self.label, "note", f"schema.events violated: {problem}")
        event = self.session.receive(frame)
        if event is not None and problem is None and self._room_for_one_more():
            keep = self.trim_texts
            if keep is not None and event.text is not None and len(event.text) > keep:
                event = event._replace(text=event.text[:keep], raw=shorten(data, keep))
            self.history.append(event)
            self.arrivals.append(time.monotonic())
            self._check_room(event)
        self.frames += 1
        self._news.set()

    def _room_for_one_more(self) -> bool:
        if len(self.history) < MAX_EVENTS:
            return True
        if self.violation is None:
            self.violation = ServerViolation(
                f"{self.label} received more than {MAX_EVENTS} events in one case: a flood",
                expected="the events the case asked for",
                observed=f"{MAX_EVENTS} events, still coming",
            )
        return False

    def _check_room(self, event: Event) -> None:
        """5. room.isolation holds in every case: a message of another room is a violation."""
        if (
            event.kind == MESSAGE
            and event.room is not None
            and self.protocol.rooms
            and event.room != self.room
            and self.violation is None
        ):
            self.violation = ServerViolation(
                f"{self.label} (room {self.room!r}) got a message of room {event.room!r}",
                expected=f"messages of room {self.room!r} only",
                observed=show(event),
                clause="room.isolation",
            )

    def _on_closed(self) -> None:
        rcvd = self.ws.protocol.close_rcvd
        self.close_code = rcvd.code if rcvd else None
        text = (
            f"close frame {rcvd.code} {rcvd.reason!r}"
            if rcvd
            else "connection ended, no close frame"
        )
        self.log.add(self.label, "close", text, code=self.close_code)
        self.closed.set()
        self._news.set()
        loop = asyncio.get_running_loop()
        loop.call_later(UNDERLYING_CLOSE_TIMEOUT, self._release)

    def _release(self) -> None:
        """Close a connection the server has not ended after the closing handshake, as a
        browser does (RFC 6455 7.1.1: the client "MAY close the connection at any time after
        sending and receiving a Close message")."""
        if not self.ws.connection_lost_waiter.done():
            self.log.add(self.label, "note", "the server kept TCP open after the close: closed it")
            self.ws.transport.abort()

    def _reset(self) -> None:
        transport = self.ws.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        if transport is not None:
            transport.abort()

    def _find(self, match: Match, start: int) -> int | None:
        for i in range(start, len(self.history)):
            if match(self.history[i]):
                return i
        return None

    async def _wait_for(self, match: Match, what: str, timeout: float, start: int) -> int:
        """Index of the first event from `start` that matches; ServerViolation when none comes."""
        deadline = time.monotonic() + timeout
        with self.waits.on(f"{self.label}: {what}"):
            while True:
                if self.violation:
                    raise self.violation
                found = self._find(match, start)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if self.closed.is_set() or remaining <= 0:
                    raise self._missing(what, timeout, start)
                self._news.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._news.wait(), remaining)

    def _missing(self, what: str, timeout: float, start: int) -> ServerViolation:
        recent = [show(e) for e in self.history[start:][-3:]] or ["no event"]
        if self.closed.is_set():
            how = f"the connection closed ({self.describe_close()})"
        else:
            how = f"nothing matching within {timeout:.1f} s"
        return ServerViolation(
            f"{self.label}: expected {what}, but {how}",
            expected=what,
            observed="; ".join(recent) + ("" if not self.closed.is_set() else "; then closed"),
        )

    async def expect(self, match: Match, what: str, timeout: float) -> Event:
        """Consume events until one matches `match` (others are passed over) and return it."""
        i = await self._wait_for(match, what, timeout, self.cursor)
        self.cursor = i + 1
        return self.history[i]

    async def await_seen(self, match: Match, what: str, timeout: float, since: int = 0) -> Event:
        """Wait until an event (from index `since`) matches, without consuming anything."""
        return self.history[await self._wait_for(match, what, timeout, since)]

    async def news(self, timeout: float, since: int | None = None) -> bool:
        """Wait up to `timeout` for the next frame or the end; False when nothing came.
        `since`: True at once if `history` already holds events from that index on (a waiter
        started as a task may begin after the event it waits for). Other waiters on this
        client (await_seen) may run at the same time."""
        if self.violation:
            raise self.violation
        if since is not None and len(self.history) > since:
            return True
        if self.closed.is_set():
            return False
        frames = self.frames
        deadline = time.monotonic() + timeout
        with self.waits.on(f"{self.label}: more events"):
            while self.frames == frames and not self.closed.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._news.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._news.wait(), remaining)
        if self.violation:
            raise self.violation
        return self.frames > frames or self.closed.is_set()

    @property
    def welcome(self) -> Event:
        """The member's welcome (ctx.join waited for it), or its first event."""
        return next((e for e in self.history if e.kind == WELCOME), self.history[0])

    def seen(self, match: Match) -> list[Event]:
        """Every event received so far that matches."""
        return [e for e in self.history if match(e)]

    async def wait_closed(self, timeout: float) -> bool:
        """True when the connection ends within `timeout` seconds."""
        with self.waits.on(f"{self.label}: connection close"), contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), timeout)
        return self.closed.is_set()

    def describe_close(self) -> str:
        """`close code N` or `no close frame`, for reasons."""
        return f"close code {self.close_code}" if self.close_code else "no close frame"

    # -- sending -----------------------------------------------------------------------------

    async def send(self, frame: str | bytes, timeout: float, act: bool = True) -> bool:
        """Send one frame; False when the connection is already closed. `act=False`: part of
        joining (the profile's join frames), not an action of the case on the server."""
        data = frame if isinstance(frame, str) else f"<binary {len(frame)} bytes> {frame[:64]!r}"
        self.log.add(self.label, "send", data)
        if act:
            self.on_act()
        try:
            with self.waits.on(f"{self.label}: send accepted by the server"):
                await asyncio.wait_for(self.ws.send(frame), timeout)
        except ConnectionClosed:
            self.log.add(self.label, "note", "send failed: connection closed")
            return False
        except TimeoutError:
            raise ServerViolation(
                f"{self.label}: the server did not read a {len(frame)}-byte frame "
                f"within {timeout:.1f} s",
                expected="the server keeps reading its clients' frames",
                observed="send blocked (TCP window full)",
            ) from None
        return True

    async def say(self, text: str, timeout: float, **extra: Any) -> bool:
        """Say `text` as the profile sends texts; `extra` fields make a protocol v1 frame
        `{"text": text, ...}` (message.extra-fields)."""
        frame = (
            orjson.dumps({"text": text, **extra}).decode() if extra else self.protocol.encode(text)
        )
        return await self.send(frame, timeout)

    # -- ending ------------------------------------------------------------------------------

    async def close(self, timeout: float) -> None:
        """Close cleanly (code 1000) and wait, bounded, for the connection to end."""
        if self.closed.is_set():
            return
        self.on_act()
        self.log.add(self.label, "close", "sent close frame 1000", code=1000)
        with contextlib.suppress(TimeoutError, ConnectionClosed, OSError):
            await asyncio.wait_for(self.ws.close(), timeout)
        if not self.closed.is_set():
            self.abort(note=False)
        await self.wait_closed(timeout)

    def abort(self, how: Drop = "rst", note: bool = True) -> None:
        """End the TCP connection without a close frame: a reset (RST, SO_LINGER 0) at once, or
        a FIN (half-close: the client sends nothing more and reads until the server closes)."""
        if note:
            self.on_act()
            kind = "reset (RST)" if how == "rst" else "half-closed (FIN)"
            self.log.add(self.label, "note", f"TCP connection {kind}, no close frame")
        transport = self.ws.transport
        if transport is None or self.ws.connection_lost_waiter.done():
            return
        if how == "rst":
            self._reset()
        elif transport.can_write_eof() and not transport.is_closing():
            transport.write_eof()
        else:
            transport.abort()

    def stop_reading(self) -> None:
        """Stop reading the socket: frames and pings pile up unread in the kernel buffers."""
        self.on_act()
        self.log.add(self.label, "note", "stopped reading its socket")
        self.ws.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read the socket again."""
        self.log.add(self.label, "note", "reads its socket again")
        with contextlib.suppress(RuntimeError, AttributeError):
            self.ws.transport.resume_reading()

    async def dispose(self) -> None:
        """Reset if still open and stop the reader task (end of case)."""
        self.abort(note=False)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self._reader, 1)


def show(event: Event, limit: int = 160) -> str:
    """The frame an event came in, for expected/observed (shortened)."""
    raw = event.raw
    text = raw if isinstance(raw, str) else f"<binary {len(raw)} bytes> {raw[:64]!r}"
    return shorten(text, limit)


def is_message(text: str | None = None, user: str | None = None) -> Match:
    """Matches message events, optionally with this exact text / user."""
    return lambda e: (
        e.kind == MESSAGE and (text is None or e.text == text) and (user is None or e.user == user)
    )


def is_joined(name: str) -> Match:
    """Matches the announcement that `name` joined."""
    return lambda e: e.kind == JOINED and e.user == name


def is_left(name: str) -> Match:
    """Matches the announcement that `name` left."""
    return lambda e: e.kind == LEFT and e.user == name


def is_system(name: str, kind: str) -> Match:
    """Matches `NAME joined` / `NAME left` (kind "joined" or "left")."""
    return is_joined(name) if kind == "joined" else is_left(name)
