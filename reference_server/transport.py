"""The uvicorn WebSocket protocol the server runs on, with a handle on its TCP connection.

ASGI has no way to abort a connection, but a client that stops reading cannot receive a close
frame: its socket is full, so a polite close never completes and asyncio's transport.close()
waits for the buffer to drain forever. The chat server therefore runs on uvicorn's
websockets-sansio protocol extended with a `TransportControl` in the ASGI scope
(scope["extensions"][EXTENSION]) that can wait for the connection to end and abort it. The
same handle lets a member write encoded frames straight to the transport (reference_server.member).

The protocol also bounds what a client can make the server hold (docs/reference-server.md,
"Limits and attacks"): a request the handshake parser refuses is answered and closed (uvicorn
leaves it open, unanswered); a fragmented message may have at most `max_fragments` frames (the
size limit counts payload bytes only, so empty continuation frames were free) and must end
within `message_timeout`; and once more than `max_unsent_bytes` wait to be sent to a client
that does not read (a ping flood's pongs), the server stops reading it until they drain.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn._types import ASGIReceiveEvent, ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame
from websockets.protocol import State

from reference_server.lean import Flag, Inbox

EXTENSION = "chatbench.transport"
POLICY, TOO_BIG = 1008, 1009
READ_SLICE = 16 * 1024
"""Bytes of one client handled per turn of the event loop (about 800 small frames)."""
BAD_HANDSHAKE = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 28\r\nconnection: close\r\n\r\nInvalid WebSocket handshake\n"
)


@dataclass(frozen=True)
class WireLimits:
    """What one WebSocket connection may cost (reference_server.settings holds the values)."""

    close_timeout: float = 2.0
    max_fragments: int = 64
    message_timeout: float = 10.0
    max_unsent_bytes: int = 1 << 20


def ping_wait(now: float, heard_at: float, interval: float) -> float:
    """Seconds until a client last heard from at `heard_at` will have been silent for
    `interval` (0 or less: it has, ping it now)."""
    return heard_at + interval - now


class TransportControl:
    """What a connection handler may do to its TCP connection."""

    def __init__(self, protocol: ChatProtocol) -> None:
        self._protocol = protocol

    def can_write(self) -> bool:
        """True while the WebSocket is open and the transport is not pushing back."""
        p = self._protocol
        return p.writable.is_set() and not p.disconnected and p.conn.state is State.OPEN

    def write(self, data: bytes) -> None:
        """Write encoded frames (whole frames only: uvicorn's own frames go in between)."""
        self._protocol.transport.write(data)

    async def wait_writable(self) -> None:
        """Wait until the transport takes data again (or the connection is lost)."""
        await self._protocol.writable.wait()

    def abort(self) -> None:
        """Drop the TCP connection now, discarding unsent data."""
        self._protocol.transport.abort()

    def fail(self, code: int, reason: str) -> None:
        """Close with `code` and read nothing more (RFC 6455 7.1.7, Fail the WebSocket
        Connection): what the client still sends is dropped unparsed. The app is told the
        connection ended."""
        self._protocol.fail(code, reason)

    async def wait_lost(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the connection to end; True if it did."""
        try:
            async with asyncio.timeout(timeout):
                await self._protocol.lost.wait()
        except TimeoutError:
            return False
        return True


class ChatProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, plus a TransportControl and bounded costs."""

    limits = WireLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn's asyncio.Queue and Event, without their deques (reference_server.lean)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Flag(True)  # type: ignore[assignment]
        self.lost = Flag()
        # uvicorn waits this long for the peer's close reply before closing the transport.
        self.close_timeout = self.limits.close_timeout
        self._fragments = 0
        self._message_timer: asyncio.TimerHandle | None = None
        self._output_blocked = False  # reading stopped: too much unsent to a client not reading
        self._backlog = b""  # the part of a read not handled yet
        self._continuing = False
        self._failed = False
        self._heard_at = self.loop.time()  # when the client's last message began

    async def run_asgi(self) -> None:
        """Run the app with the TransportControl in its scope."""
        extensions: dict[str, Any] = self.scope["extensions"]
        extensions[EXTENSION] = TransportControl(self)
        await super().run_asgi()

    def connection_lost(self, exc: Exception | None) -> None:
        """Record that the connection ended (the writer may be waiting on a full buffer)."""
        self._end_message()
        super().connection_lost(exc)
        self.lost.set()

    def send_keepalive_ping(self) -> None:
        """uvicorn's keepalive ping, sent only once the client has been silent for a whole
        `ping_interval` (pongs do not count): a peer that talks is not half-open. Otherwise
        the timer is set again for the moment it will have been silent that long. A client
        that went silent is pinged `ping_interval` after its last message and dropped
        `ping_timeout` later (leave.half-open); idle members are pinged every
        `ping_interval`, members that talk more often than that never."""
        if self.pending_ping_payload is None:
            assert self.ping_interval is not None
            wait = ping_wait(self.loop.time(), self._heard_at, self.ping_interval)
            if wait > 0:
                self.ping_timer = self.loop.call_later(wait, self.send_keepalive_ping)
                return
        super().send_keepalive_ping()

    def keepalive_timeout(self) -> None:
        """Pong overdue (leave.half-open): uvicorn closes; make sure the close cannot hang."""
        super().keepalive_timeout()
        self.loop.call_later(self.limits.close_timeout, self._abort_if_open)

    def _abort_if_open(self) -> None:
        if not self.lost.is_set():
            self.transport.abort()

    # -- what the client sends -------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Handle READ_SLICE bytes now and the rest on later turns of the event loop: a read
        can bring 256 KiB (13,000 small frames), whose parsing would hold every other client."""
        self._handle(self._backlog + data if self._backlog else data)

    def _handle(self, data: bytes) -> None:
        if len(data) <= READ_SLICE or self._failed:  # after fail(), input is only dropped
            now, self._backlog = data, b""
        else:
            now, self._backlog = data[:READ_SLICE], data[READ_SLICE:]
        super().data_received(now)
        if not self.handshake_initiated and self.conn.handshake_exc is not None:
            if not self.handshake_complete:  # uvicorn >= 0.55 answers (and closes) itself
                self._refuse_handshake()
            return
        if self._over_unsent():
            self._output_blocked = True  # until resume_writing(): the client reads again
        self._proceed()

    def _proceed(self) -> None:
        """Go on reading, unless uvicorn holds the client (the app has messages to take), it
        does not read what it is sent, or part of its last read waits (then that first)."""
        if self.transport.is_closing():
            self._backlog = b""
            return
        held = self.read_paused or self._output_blocked
        if held or self._backlog:
            self.transport.pause_reading()
            if self._backlog and not held and not self._continuing:
                self._continuing = True
                self.loop.call_soon(self._continue)
            return
        self.transport.resume_reading()

    def _continue(self) -> None:
        self._continuing = False
        if self._backlog and not (self.read_paused or self._output_blocked):
            self._handle(self._backlog)
        else:
            self._proceed()

    def _refuse_handshake(self) -> None:
        """websockets refused the request (a line over 8 KiB, too many headers): uvicorn
        before 0.55 leaves it unanswered and open. Send websockets' answer (or 400), close."""
        self.handshake_initiated = self.handshake_complete = self.close_sent = True
        answer = b"".join(self.conn.data_to_send())
        if not self.transport.is_closing():
            self.transport.write(answer or BAD_HANDSHAKE)
            self.transport.close()

    def _over_unsent(self) -> bool:
        # Only while asyncio has paused writing: resume_writing() will then come (or the end).
        return (
            not self.writable.is_set()
            and not self.close_sent
            and self.transport.get_write_buffer_size() > self.limits.max_unsent_bytes
        )

    def resume_writing(self) -> None:
        """The client read what was waiting: read it again."""
        super().resume_writing()
        self._output_blocked = False
        self._proceed()

    async def receive(self) -> ASGIReceiveEvent:
        """uvicorn's receive: once the app has taken every message, go on reading."""
        message = await self.queue.get()
        if self.read_paused and self.queue.empty():
            self.read_paused = False
            self._proceed()
        return message

    async def send(self, message: ASGISendEvent) -> None:
        """uvicorn's send; once the app closes, read again: the client's close reply. Once
        accepted, the handshake's request, response and the scope's headers are dropped:
        nothing reads them again (the app looks at Origin and Host before it accepts), and
        they were two or three kilobytes per member."""
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            del self.request, self.response
            headers = self.scope["headers"]
            if isinstance(headers, list):
                headers.clear()  # in place: Starlette's Headers share the list
        elif message["type"] == "websocket.close":
            self._output_blocked = False
            self._proceed()

    # -- fragmented messages ---------------------------------------------------------------

    def handle_text(self, event: Frame) -> None:
        """The first (or only) frame of a text message."""
        self._heard_at = self.loop.time()
        self._start_message(event)
        super().handle_text(event)

    def handle_bytes(self, event: Frame) -> None:
        """The first (or only) frame of a binary message."""
        self._heard_at = self.loop.time()
        self._start_message(event)
        super().handle_bytes(event)

    def handle_cont(self, event: Frame) -> None:
        """A continuation frame: at most `max_fragments` frames per message."""
        self._fragments += 1
        if self._fragments > self.limits.max_fragments:
            self.fail(TOO_BIG, f"message in more than {self.limits.max_fragments} frames")
            return
        super().handle_cont(event)
        if event.fin:
            self._end_message()

    def _start_message(self, event: Frame) -> None:
        self._end_message()
        if not event.fin:
            self._fragments = 1
            self._message_timer = self.loop.call_later(
                self.limits.message_timeout, self.fail, POLICY, "message took too long"
            )

    def _end_message(self) -> None:
        self._fragments = 0
        if self._message_timer is not None:
            self._message_timer.cancel()
            self._message_timer = None

    def fail(self, code: int, reason: str) -> None:
        """Close with `code` now and tell the app the connection is over. What the client
        still sends is read and dropped unparsed (websockets discards it after fail()), for
        up to `close_timeout`: closing a socket with unread data would reset the connection,
        and the reset could take the close frame with it."""
        self._end_message()
        self._backlog = b""
        if self.close_sent or self.transport.is_closing():
            return
        self.frames = []
        self.conn.fail(code, reason)
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.close_sent, self._failed = True, True
        self.transport.write(b"".join(self.conn.data_to_send()))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)
        self.read_paused = self._output_blocked = False  # the app reads nothing more of it
        self._proceed()


def protocol_class(limits: WireLimits) -> type[ChatProtocol]:
    """A ChatProtocol with these limits (close handshakes end within `close_timeout`)."""
    return type("ChatProtocol", (ChatProtocol,), {"limits": limits})
