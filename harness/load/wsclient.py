"""A lean WebSocket client for gevent: websockets' sans-I/O ClientProtocol over a plain socket.

Reading: every plain-TCP connection of the process sits in one epoll set (`Reactor`), read by
one greenlet. When the set is readable it takes each ready socket's bytes with one
non-blocking `recv`, one `time.time_ns()` for each read (every frame in it had arrived by
then), and once all are read, hands each text frame to a callback. Against a greenlet per
connection this saves, per frame, two greenlet switches, an io watcher started and stopped
and a `recv` that fails with EAGAIN. Data frames are parsed here (`frames.FrameParser`,
about 1 us a frame against 7 us for websockets' generator-based parser); the handshake, pings
and the closing handshake stay with websockets' protocol. No background thread per
connection (unlike websockets' sync client), no Locust event per frame. TLS connections (and
systems without epoll) keep a reader greenlet each over gevent's socket and websockets'
parser.
Neither parser trusts the server (`harness.load.frames`): a message over
`max_message_bytes`, broken fragmentation or text that is not UTF-8 fails that connection
(1009, 1002, 1007) and frees what it held.

How a connection ended when chatbench did not end it is `WsClient.ending()`: a close frame
from the server (its code), a stream that ended without one (lost), a protocol error, or a bug
in chatbench itself (never the server's).

Writing: the sender's greenlet sends directly; only when the socket buffer is full does it
wait, cooperatively, for the socket to become writable.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket as _stdlib_socket
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

import gevent
from gevent import socket
from gevent.lock import Semaphore
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.protocol import Protocol, State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from harness.load.frames import (
    CLOSED,
    HARNESS,
    LOST,
    MAX_MESSAGE_BYTES,
    PROTOCOL,
    Ending,
    FrameParser,
    OnFrame,
    ProtocolViolation,
)
from harness.load.reactor import READ_BYTES, Reactor, original, reactor
from harness.load.sources import open_tcp

try:  # websockets' C masking, as its own frames use; its pure-Python one otherwise
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

OnClose = Callable[[int], None]
MAX_HEAD = 65_536  # bytes of HTTP response head accepted in the handshake
log = logging.getLogger(__name__)


# The unpatched socket (Locust monkey-patches socket): the reactor reads it without gevent.
_RawSocket: Any = original("socket", "socket")


class ConnectError(Exception):
    """The connection or the WebSocket handshake failed. `kind` says how: the HTTP status
    of a refused handshake ("503"), "refused" (nothing listens), "timeout", "reset",
    "closed" (the server closed during the handshake) or "error"."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


def _failure_kind(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (gevent.Timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    return "error"


def _status(head: bytes) -> str:
    """The status code of an HTTP response head ("503"), or "error" if it has none."""
    parts = head.split(b" ", 2)
    return parts[1].decode() if len(parts) > 1 and parts[1].isdigit() else "error"


def masked_text_frame(data: bytes) -> bytes:
    """One client text frame (FIN, masked with a fresh random key) carrying `data`.

    What websockets' `Protocol.send_text` writes, without its per-frame objects: the sender's
    share of the generator's CPU.
    """
    n, mask = len(data), os.urandom(4)
    if n < 126:
        head = bytes((0x81, 0x80 | n))
    elif n < 65536:
        head = struct.pack("!BBH", 0x81, 0xFE, n)
    else:
        head = struct.pack("!BBQ", 0x81, 0xFF, n)
    return head + mask + apply_mask(data, mask)


class WsClient(FrameParser):
    """One WebSocket connection; text messages go to `on_frame(payload, received_ns)`.

    `on_frame` may raise `ProtocolViolation` (invalid UTF-8) to fail the connection.
    """

    def __init__(
        self,
        url: str,
        on_frame: OnFrame,
        on_close: OnClose,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        headers: Sequence[tuple[str, str]] = (),
        subprotocols: Sequence[str] = (),
    ) -> None:
        super().__init__(on_frame, max_message_bytes)
        self.url = url
        self.on_close = on_close
        self.proto = ClientProtocol(
            parse_uri(url),
            max_size=max_message_bytes,
            subprotocols=[Subprotocol(p) for p in subprotocols] or None,
        )
        self.headers = tuple(headers)  # extra handshake headers (the profile's, --header)
        self.sock: Any = None  # a non-blocking stdlib socket, or gevent's SSL socket for wss
        self.reader: gevent.Greenlet | None = None
        self.reactor: Reactor | None = None
        self.open = False
        self._lock = Semaphore()
        self._parts: list[bytes] | None = None  # a fragmented message on websockets' path
        self.fast = not self.proto.uri.secure  # our own frame parser (FrameParser.feed)
        self.violation: ProtocolViolation | None = None
        self.harness_error: str | None = None
        self.source: str | None = None
        """The local address to connect from (`--source-addresses`); None: the system's."""

    def connect(self, timeout: float) -> None:
        """Open the TCP connection, do the handshake and start reading."""
        uri = self.proto.uri
        try:
            gsock = open_tcp(uri.host, uri.port, timeout, self.source)
            gsock.setsockopt(_stdlib_socket.IPPROTO_TCP, _stdlib_socket.TCP_NODELAY, 1)
            if uri.secure:
                from gevent import ssl

                ctx = ssl.create_default_context()
                self.sock = ctx.wrap_socket(gsock, server_hostname=uri.host)
            else:
                self.sock = _RawSocket(fileno=gsock.detach())
                self.sock.setblocking(False)
            request = self.proto.connect()
            for name, value in self.headers:
                request.headers[name] = value
            self.headers = ()  # sent: not kept for the connection's life
            self.proto.send_request(request)
            self._flush()
            self._handshake(timeout)
        except ConnectError:
            self._close_socket()
            raise
        except (OSError, gevent.Timeout) as exc:
            self._close_socket()
            raise ConnectError(f"{self.url}: {exc}", _failure_kind(exc)) from exc
        self.open = True
        self.reactor = None if uri.secure else reactor()
        if self.reactor is not None:
            self.reactor.add(self.sock.fileno(), self)
        else:
            if uri.secure:
                self.sock.settimeout(None)
            self.reader = gevent.spawn(self._read_loop)

    def _recv(self) -> bytes:
        """Wait (cooperatively) for bytes; b"" at end of stream."""
        while True:
            try:
                return bytes(self.sock.recv(READ_BYTES))
            except BlockingIOError:
                socket.wait_read(self.sock.fileno())

    def _sendall(self, data: bytes) -> None:
        """Send every byte, waiting cooperatively while the socket buffer is full."""
        if self.proto.uri.secure:
            self.sock.sendall(data)
            return
        view = memoryview(data)
        while view:
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                socket.wait_write(self.sock.fileno())

    def _handshake(self, timeout: float) -> None:
        assert self.sock is not None
        head = b""
        with gevent.Timeout(timeout):
            if self.fast:  # the head alone: the frames after it are ours to parse
                head = self._read_head()
                self.proto.receive_data(head)
                events = self.proto.events_received()
            else:
                while True:
                    data = self._recv()
                    now = time.time_ns()
                    if not data:
                        raise ConnectError(
                            f"{self.url}: connection closed during the handshake", "closed"
                        )
                    self.proto.receive_data(data)
                    events = self.proto.events_received()
                    if events:
                        break
        response = events[0] if events else None
        if not isinstance(response, Response) or self.proto.handshake_exc is not None:
            status = str(response.status_code) if isinstance(response, Response) else _status(head)
            raise ConnectError(
                f"{self.url}: handshake refused ({self.proto.handshake_exc or status})", status
            )
        if self.fast:
            # websockets' parser is one generator for the handshake and the frames after it,
            # and its frame keeps the response (headers and all) for the connection's life
            # (about 1 KiB; bench part 5). Exactly the head was fed: the frames start here.
            self._park_parser()
        else:
            self._dispatch(events[1:], now)

    def _park_parser(self) -> None:
        """Drop websockets' parser while it waits at the start of a frame with nothing
        buffered (after the handshake head, after a whole ping or pong; `_parsing` makes a
        fresh one when websockets is next fed): a parked parser costs nothing, a waiting one
        about 0.6 KiB (its generators and the last frame)."""
        self.proto.parser = None  # type: ignore[assignment]

    def _parsing(self) -> ClientProtocol:
        """websockets' protocol, with a parser waiting at the start of a frame."""
        proto = self.proto
        if proto.parser is None:
            proto.parser = Protocol.parse(proto)
            next(proto.parser)
        return proto

    def _read_head(self) -> bytes:
        """Exactly the HTTP response head (peeked first, so no frame byte is taken)."""
        head = bytearray()
        while True:
            try:
                peek = self.sock.recv(READ_BYTES, _stdlib_socket.MSG_PEEK)
            except BlockingIOError:
                socket.wait_read(self.sock.fileno())
                continue
            if not peek:
                raise ConnectError(f"{self.url}: connection closed during the handshake", "closed")
            tail = head[-3:]
            end = (tail + peek).find(b"\r\n\r\n")
            take = len(peek) if end < 0 else end + 4 - len(tail)
            while take > 0:  # those bytes are in the socket already: no wait
                chunk = self.sock.recv(take)
                head += chunk
                take -= len(chunk)
            if end >= 0:
                return bytes(head)
            if len(head) > MAX_HEAD:
                raise ConnectError(f"{self.url}: response head over {MAX_HEAD} bytes")

    def _read_loop(self) -> None:
        """A reader greenlet of its own (TLS, or no epoll)."""
        try:
            while self._received(self._recv(), time.time_ns()):
                pass
        except ProtocolViolation as exc:
            self._violated(exc)
        except OSError:
            pass
        except Exception as exc:  # a callback's bug: chatbench's, not the server's
            log.exception("reading %s", self.url)
            self.harness_error = repr(exc)
        self._ended(time.time_ns())

    def read_into(self, view: memoryview) -> int:
        """One non-blocking read for the reactor: bytes read, 0 at end of stream (or on a
        socket error), -1 when there was nothing after all."""
        try:
            return self.sock.recv_into(view)  # type: ignore[no-any-return]
        except BlockingIOError:
            return -1
        except OSError:
            return 0

    def on_bytes(self, data: memoryview, now: int) -> None:
        """The reactor's read (empty at end of stream): parse it; end the connection when
        the stream does."""
        n = len(data)
        try:
            if n > 2 and data[0] == 0x81 and self.fast and not self._buf and self._fragment is None:
                # The common case, in short: exactly one whole text frame under 64 KiB, no
                # fragmented message open, under the limit (FrameParser.feed does the rest).
                b1 = data[1]
                if b1 < 126 and b1 + 2 == n:
                    self.on_frame(bytes(data[2:]), now)
                    return
                size = n - 4
                if (
                    b1 == 126
                    and 0 < size <= self.max_message_bytes
                    and data[2] << 8 | data[3] == size
                ):
                    self.on_frame(bytes(data[4:]), now)
                    return
            if self._received(data, now):
                return
        except ProtocolViolation as exc:
            self._violated(exc)
        except OSError:
            pass
        except Exception as exc:  # a callback's bug must not stop the other connections' reading
            log.exception("reading %s", self.url)
            self.harness_error = repr(exc)
        self._ended(now)

    def _received(self, data: bytes | memoryview, now: int) -> bool:
        """Parse and dispatch `data`; False when the connection is over."""
        if not data:
            return False
        if self.fast:
            data = self.feed(data, now)
            if not data:
                return True
        proto = self._parsing()
        proto.receive_data(bytes(data))
        self._dispatch(proto.events_received(), now)
        if proto.parser_exc is not None and self.violation is None:  # websockets failed it
            close = proto.close_sent
            code = close.code if close is not None else 1002
            self.violation = ProtocolViolation(code, str(proto.parser_exc))
        if proto.close_expected():
            self._send_best_effort()  # our close frame, before the socket closes
            return False
        if proto.writes:
            self._flush_soon()
        return True

    def on_control(self, frame: bytes) -> None:
        """A ping or pong the fast path found: websockets' protocol answers pings."""
        proto = self._parsing()
        proto.receive_data(frame)
        proto.events_received()
        if self.fast and proto.state is State.OPEN:  # a whole frame: it waits for the next
            self._park_parser()
        if proto.writes:
            self._flush_soon()

    def _flush_soon(self) -> None:
        """Send what websockets queued (a pong). The reactor reads every connection, so it
        never waits on one: a sender may hold the lock on a socket the server stopped
        reading. A greenlet of its own waits instead."""
        if self.reader is not None:  # a reader greenlet of its own may wait
            self._flush()
        elif self._lock.acquire(blocking=False):
            self._send_now(b"".join(self.proto.data_to_send()))
        else:
            gevent.spawn(self._flush_quietly)

    def _send_now(self, data: bytes) -> None:
        """With the lock held: one non-blocking try (a pong fits: no greenlet per ping), the
        rest from a greenlet of its own, which keeps the lock until it is sent, so no other
        frame can slip into the middle."""
        try:
            sent = self.sock.send(data) if data and self.open else len(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            sent = len(data)  # the connection is going: its end is seen by the reader
        if sent >= len(data):
            self._lock.release()
            return
        gevent.spawn(self._send_rest, data[sent:])

    def _send_rest(self, data: bytes) -> None:
        try:
            with contextlib.suppress(OSError):
                self._sendall(data)
        finally:
            self._lock.release()

    def _flush_quietly(self) -> None:
        with contextlib.suppress(OSError):
            if self.open:
                self._flush()

    def _send_best_effort(self) -> None:
        """Send what websockets queued (a close frame) with one try and no wait; nothing
        while a sender holds the lock (its frame may be half sent)."""
        data = b"".join(self.proto.data_to_send())
        if not data or self.sock is None or self._lock.locked():
            return
        with contextlib.suppress(OSError, gevent.Timeout), gevent.Timeout(1):
            if self.proto.uri.secure:
                self.sock.sendall(data)
            else:
                self.sock.send(data)

    def _violated(self, exc: ProtocolViolation) -> None:
        """The server broke the protocol: free what we hold, send our close (best effort)."""
        self.violation = exc
        self.reset()
        self._parts = None
        if self.proto.state is State.OPEN:
            with contextlib.suppress(Exception):  # the reason is cut to what a close frame holds
                self.proto.fail(exc.code, exc.reason.encode()[:120].decode(errors="ignore"))
        self._send_best_effort()

    def ending(self) -> Ending:
        """How the connection ended, when chatbench did not end it (see frames.Ending)."""
        if self.harness_error is not None:
            return Ending(HARNESS, None, self.harness_error)
        if self.violation is not None:
            return Ending(PROTOCOL, self.violation.code, self.violation.reason)
        close = self.proto.close_rcvd
        if close is not None:
            return Ending(CLOSED, close.code, close.reason)
        return Ending(LOST, None, "")

    def _dispatch(self, frames: Sequence[object], now: int) -> None:
        for frame in frames:
            opcode = frame.opcode  # type: ignore[attr-defined]
            # websockets checked fragmentation and size (max_size) already
            if opcode is Opcode.TEXT:
                if frame.fin:  # type: ignore[attr-defined]
                    # bytes: the parser's payload may be a bytearray, and on_frame takes bytes
                    self.on_frame(bytes(frame.data), now)  # type: ignore[attr-defined]
                else:
                    self._parts = [frame.data]  # type: ignore[attr-defined]
            elif opcode is Opcode.CONT and self._parts is not None:
                self._parts.append(frame.data)  # type: ignore[attr-defined]
                if frame.fin:  # type: ignore[attr-defined]
                    self.on_frame(b"".join(self._parts), now)
                    self._parts = None

    def _flush(self) -> None:
        assert self.sock is not None
        with self._lock:
            for chunk in self.proto.data_to_send():
                if chunk:
                    self._sendall(chunk)

    def send_text(self, data: bytes) -> None:
        """Send one text frame (`data` is UTF-8)."""
        if self.fast and self.proto.state is State.OPEN:
            frame = masked_text_frame(data)
            with self._lock:
                self._sendall(frame)
            return
        with self._lock:
            self.proto.send_text(data)
            assert self.sock is not None
            for chunk in self.proto.data_to_send():
                if chunk:
                    self._sendall(chunk)

    def stop_reading(self) -> None:
        """Read nothing more (a slow consumer): the server's buffers toward us fill up."""
        self._stop_reader()

    def _stop_reader(self) -> None:
        if self.reactor is not None and self.sock is not None:
            self.reactor.remove(self.sock.fileno())
        self.reactor = None
        reader, self.reader = self.reader, None
        if reader is not None and reader is not gevent.getcurrent():
            reader.kill(block=False)

    def drop(self) -> None:
        """End the TCP connection abruptly: no close frame, a RST (SO_LINGER 0)."""
        if self.sock is not None:
            linger = struct.pack("ii", 1, 0)
            with contextlib.suppress(OSError):
                self.sock.setsockopt(_stdlib_socket.SOL_SOCKET, _stdlib_socket.SO_LINGER, linger)
        self._shutdown()

    def close(self) -> None:
        """Close cleanly: a close frame (1000), then the socket."""
        if self.open and self.sock is not None:
            try:
                with self._lock:
                    self.proto.send_close(1000)
                    for chunk in self.proto.data_to_send():
                        if chunk:
                            self._sendall(chunk)
            except Exception:  # the peer may be gone already; closing is best effort
                pass
        self._shutdown()

    def _shutdown(self) -> None:
        self.open = False
        self._stop_reader()
        self._close_socket()

    def _close_socket(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()

    def _ended(self, now: int) -> None:
        was_open, self.open = self.open, False
        self._stop_reader()
        self._close_socket()
        self.reset()
        if was_open:
            self.on_close(now)
