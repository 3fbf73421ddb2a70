"""One member's WebSocket from welcome to goodbye, with cleanup on every exit path.

The connection's own task reads: it parses frames and publishes them. Frames to the member are
written through to the transport; only under back-pressure do they queue, and then a writer
task drains the member's bounded outbox and ends once it is empty, so an idle member costs no
task and no waiting future (bench part 5, memory per connection). The connection ends when the
client closes or drops, when the server asks it to close (eviction, shutdown: the reading is
cancelled), or when something raises.
Whatever the path, `finally` makes the member leave (announced once, by the hub) and ends the
TCP connection within `close_timeout`, aborting it when a close frame cannot go out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from harness.protocol import FrameError, parse_client_message
from reference_server import frames
from reference_server.hub import Hub
from reference_server.limits import TokenBucket
from reference_server.member import CloseRequest, Member
from reference_server.settings import Settings
from reference_server.stats import Stats
from reference_server.transport import EXTENSION, TransportControl

log = logging.getLogger("reference_server")

SERVER_ERROR = CloseRequest(1011, "server error")
POLICY = 1008
TURN = 0.001
"""Seconds one connection's queued messages may hold the event loop before it yields."""


class Connection:
    """Runs one accepted WebSocket as a member of a room."""

    def __init__(
        self,
        ws: WebSocket,
        member: Member,
        hub: Hub,
        settings: Settings,
        stats: Stats,
        on_leave: Callable[[Member], None] | None = None,
    ) -> None:
        self.on_leave = on_leave  # told just before the member's `left` goes out
        self.ws = ws
        self.member = member
        self.hub = hub
        self.settings = settings
        self.stats = stats
        control = ws.scope.get("extensions", {}).get(EXTENSION)
        self.control: TransportControl | None = control
        self._flooder_closed = False
        self._reading: asyncio.Task[Any] | None = None  # this connection's task, reading
        self._writer: asyncio.Task[None] | None = None  # only while frames are queued
        self._unwritable = False  # a writer found the connection gone: start no other

    async def run(self) -> None:
        """Join, relay until the connection ends, then clean up whatever ended it."""
        member = self.member
        close: CloseRequest | None = SERVER_ERROR
        try:
            if member.close_request is not None:  # server closing before we joined
                close = member.close_request
                return
            member.sink, member.on_queued = self.control, self._want_writer
            await self.hub.join(member)
            if member.close_request is not None:  # requested while joining
                close = member.close_request
                return
            member.on_close_request = self._stop
            close = await self._relay()
        finally:
            await self._cleanup(close)

    async def _relay(self) -> CloseRequest | None:
        """Read until the client goes (None) or a close is requested (that request)."""
        task = asyncio.current_task()
        self._reading = task
        try:
            await self._read()
        except asyncio.CancelledError:
            # _stop's cancel (a close was requested) is ours to absorb; any other is not
            if task is None or self.member.close_request is None or task.uncancel() > 0:
                raise
        except Exception:
            log.error("connection failed", exc_info=True)
            return SERVER_ERROR
        finally:
            self._reading = None
        return self.member.close_request

    def _stop(self) -> None:
        """A close was requested: stop reading, and stop a writer blocked on a full socket.
        A task that asked itself (the reader closing a flooder, or overflowing its own queue)
        is not cancelled: it sees the request and returns (a cancel it never awaited would
        hit its cleanup instead, and the close frame would not go out)."""
        current = asyncio.current_task()
        for task in (self._reading, self._writer):
            if task is not None and task is not current:
                task.cancel()

    async def _cleanup(self, close: CloseRequest | None) -> None:
        member = self.member
        member.on_queued = member.on_close_request = None
        if member.overflowed:
            self.stats.queue_overflows += 1
        if self.on_leave is not None:
            self.on_leave(member)
        try:
            await self.hub.leave(member)
        except Exception:  # a failing hub must not keep this connection open
            log.exception("leave failed for %r", member)
            close = close or SERVER_ERROR
        writer = self._writer
        if writer is not None:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        await self._end(close)

    async def _read(self) -> None:
        """Relay the client's messages; answer invalid frames with an error event (section 7)
        and messages over the rate limit with `rate_limited` (flow.rate-limit)."""
        member, settings, receive = self.member, self.settings, self.ws.receive
        allowed = self._rate_limiter()
        clock = asyncio.get_running_loop().time
        turn_ends = clock() + TURN
        while member.close_request is None:  # a request made by this loop itself (_stop)
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if clock() > turn_ends:
                # receive() does not yield while messages are queued (a flooder's read brings
                # thousands): after TURN seconds of them, let the other connections run.
                await asyncio.sleep(0)
                turn_ends = clock() + TURN
            if not allowed():
                if self.member.close_request is not None or self._flooder_closed:
                    return  # closed for flooding: its queued messages are not looked at
                continue
            data = message.get("text")
            if data is None:
                data = message.get("bytes", b"")
            try:
                text = parse_client_message(data, settings.max_text_chars).text
            except FrameError as exc:
                member.deliver(frames.error(exc.code, exc.detail))
                continue
            await self.hub.publish(member.room, frames.message(member.name, text, member.room))
            self.stats.messages_relayed += 1

    def _rate_limiter(self) -> Callable[[], bool]:
        """A check per message: True to handle it; False once refused (error event sent) or,
        when refusals exhaust an allowance as large as the burst, once closing with 1008."""
        rate, burst = self.settings.rate_limit, self.settings.rate_burst
        if not rate:
            return lambda: True
        clock = time.monotonic
        messages, refusals = TokenBucket(rate, burst, clock()), TokenBucket(rate, burst, clock())
        refused = frames.error(
            "rate_limited", f"over {rate:g} messages per second (bursts of {burst}): not relayed"
        )

        def allowed() -> bool:
            now = clock()
            if messages.take(now):
                return True
            self.stats.rate_limited += 1
            if refusals.take(now):
                self.member.deliver(refused)
            else:
                self.stats.flooders_closed += 1
                self._close_flooder()
            return False

        return allowed

    def _close_flooder(self) -> None:
        """Close with 1008 and read nothing more: the megabytes a flooder has in flight would
        otherwise be parsed, and dropped one by one, while the close handshake completes."""
        self._flooder_closed = True
        if self.control is None:
            self.member.request_close(POLICY, "rate limit exceeded")
        else:
            self.control.fail(POLICY, "rate limit exceeded")

    def _want_writer(self) -> None:
        """A frame was queued: make sure a writer task is sending the queue."""
        if self._writer is None and not self._unwritable:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        """Send what is queued, then end; a failure closes the connection with 1011."""
        try:
            if self.control is None:  # not on our protocol (another ASGI server)
                await self._write_asgi()
            else:
                await self._write_through(self.control)
        except Exception:
            log.error("connection failed", exc_info=True)
            self.member.request_close(*SERVER_ERROR)
        finally:
            self._writer = None

    async def _write_through(self, control: TransportControl) -> None:
        """Once the transport takes data again, write the whole queue at once, until empty."""
        member = self.member
        while member.has_queued():
            await control.wait_writable()
            if member.close_request is not None:
                return
            if not control.can_write():  # the connection is gone: the reader sees it end
                self._unwritable = True
                return
            # No await from here to the write: deliver() cannot slip a newer frame in between.
            control.write(b"".join([frames.wire(f) for f in member.take_queued()]))

    async def _write_asgi(self) -> None:
        """Send queued frames in order through ASGI until the queue is empty."""
        member, send = self.member, self.ws.send
        try:
            while member.has_queued():
                await send({"type": "websocket.send", "text": member.pop_queued()})
        except WebSocketDisconnect:
            self._unwritable = True  # the client went away while we wrote: the reader sees it

    async def _end(self, close: CloseRequest | None) -> None:
        """Close with `close` if still open; abort TCP if that or the peer's goodbye hangs."""
        timeout = self.settings.close_timeout
        if close is not None and self.ws.application_state == WebSocketState.CONNECTED:
            try:
                async with asyncio.timeout(timeout):
                    await self.ws.close(close.code, close.reason)
            except TimeoutError:  # its socket is full: the close frame cannot go out
                self._abort()
                return
            except Exception:  # the client went away meanwhile
                pass
        if self.control is not None and not await self.control.wait_lost(timeout):
            self._abort()

    def _abort(self) -> None:
        if self.control is not None:
            self.control.abort()
