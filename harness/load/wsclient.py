"""A lean WebSocket client for gevent: websockets' sans-I/O ClientProtocol over a plain socket.

Reading: every plain-TCP connection of the process sits in one epoll set (`Reactor`), read by
one greenlet. When the set is readable it takes each ready socket's bytes with one
non-blocking `recv`, one `time.time_ns()` for each read (every frame in it had arrived by
then), and once all are read, hands each text frame to a callback. Against a greenlet per
connection this saves, per frame, two greenlet switches, an io watcher started and stopped
and a `recv` that fails with EAGAIN. Data frames are parsed here (`WsClient._fast_frames`,
about 1 us a frame against 7 us for websockets' generator-based parser); the handshake, pings
and the closing handshake stay with websockets' protocol. No background thread per
connection (unlike websockets' sync client), no Locust event per frame. TLS connections (and
systems without epoll) keep a reader greenlet each over gevent's socket and websockets'
parser.

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
from typing import Any, Protocol

import gevent
from gevent import socket
from gevent.lock import Semaphore
from gevent.monkey import get_original
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

try:  # websockets' C masking, as its own frames use; its pure-Python one otherwise
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

OnFrame = Callable[[bytes, int], object]  # what it returns is ignored
OnClose = Callable[[int], None]
READ_BYTES = 262_144
BATCH_BYTES = 4 * READ_BYTES  # the reactor's read buffer (see Reactor)
MAX_HEAD = 65_536  # bytes of HTTP response head accepted in the handshake
_FAST_OPCODES = frozenset((0, 1, 9, 10))  # continuation, text, ping, pong
log = logging.getLogger(__name__)


def _original(module: str, name: str) -> Any:
    try:
        return get_original(module, name)
    except (AttributeError, ImportError):
        return None


# The unpatched originals (Locust monkey-patches socket and select, and gevent's select has no
# epoll): the reactor waits for the epoll fd through gevent, never in a blocking call.
_RawSocket: Any = _original("socket", "socket")
_epoll: Any = _original("select", "epoll")
_EPOLLIN: int = _original("select", "EPOLLIN") or 1


class ConnectError(Exception):
    """The connection or the WebSocket handshake failed."""


class Reader(Protocol):
    """What the reactor reads for: a connection's two halves of one read."""

    def read_into(self, view: memoryview) -> int:
        """One non-blocking read into `view`: bytes read, 0 at end of stream, -1 for none."""

    def on_bytes(self, data: memoryview, now: int) -> None:
        """Handle what `read_into` read at `now` (empty at end of stream)."""


class Reactor:
    """One epoll set for the plain-TCP connections of this process, read by one greenlet.

    `add(fd, reader)` reads `fd` each time it has data (level-triggered: one read per wake-up
    is enough); `remove(fd)` stops it. The greenlet runs while any fd is registered.

    Each wake-up first reads every ready connection into one buffer (each read stamped with
    its own `time.time_ns()`), then hands the reads over in turn. Parsing and recording
    right after a socket read runs with caches the kernel's network code has just evicted,
    about half again slower; back to back, the frames of one wake-up mostly find them warm.
    Readers must copy what they keep before they can yield (`_fast_frames` does).
    """

    def __init__(self) -> None:
        self.epoll = _epoll()
        self.readers: dict[int, Reader] = {}
        self.greenlet: gevent.Greenlet | None = None

    def add(self, fd: int, reader: Reader) -> None:
        """Watch `fd`; start the reading greenlet if it is not running."""
        self.epoll.register(fd, _EPOLLIN)
        self.readers[fd] = reader
        if self.greenlet is None or self.greenlet.dead:
            self.greenlet = gevent.spawn(self._run)

    def remove(self, fd: int) -> None:
        """Stop watching `fd` (call before closing it); idempotent."""
        if self.readers.pop(fd, None) is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.epoll.unregister(fd)
        if not self.readers and self.greenlet is not None:
            greenlet, self.greenlet = self.greenlet, None
            if greenlet is not gevent.getcurrent():
                greenlet.kill(block=False)  # it waits on an empty set: nothing will wake it

    def _run(self) -> None:
        me, hub = gevent.getcurrent(), gevent.get_hub()
        watcher = hub.loop.io(self.epoll.fileno(), 1)
        buf = memoryview(bytearray(BATCH_BYTES))  # this greenlet's own
        try:
            while self.greenlet is me and self.readers:
                hub.wait(watcher)
                reads: list[tuple[Reader, int, int, int]] = []
                pos = 0
                for fd, _ in self.epoll.poll(0):
                    reader = self.readers.get(fd)
                    if reader is None:
                        continue
                    if pos > BATCH_BYTES - READ_BYTES:
                        self._hand_over(buf, reads)
                        reads, pos = [], 0
                    try:
                        n = reader.read_into(buf[pos : pos + READ_BYTES])
                    except Exception:  # one connection's bug must not stop the others
                        log.exception("reader of fd %d failed", fd)
                        self.remove(fd)
                        continue
                    if n >= 0:
                        reads.append((reader, pos, n, time.time_ns()))
                        pos += n
                self._hand_over(buf, reads)
        finally:
            watcher.close()

    def _hand_over(self, buf: memoryview, reads: list[tuple[Reader, int, int, int]]) -> None:
        for reader, start, n, now in reads:
            try:
                reader.on_bytes(buf[start : start + n], now)
            except Exception:
                log.exception("reader %r failed", reader)


_reactor: tuple[int, Reactor] | None = None


def reactor() -> Reactor | None:
    """This process's reactor (None without epoll); a forked child gets its own."""
    global _reactor
    if _epoll is None:
        return None
    if _reactor is None or _reactor[0] != os.getpid():
        _reactor = (os.getpid(), Reactor())
    return _reactor[1]


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


class WsClient:
    """One WebSocket connection; frames go to `on_frame(payload, received_ns)`."""

    def __init__(self, url: str, on_frame: OnFrame, on_close: OnClose) -> None:
        self.url = url
        self.on_frame = on_frame
        self.on_close = on_close
        self.proto = ClientProtocol(parse_uri(url), max_size=None)
        self.sock: Any = None  # a non-blocking stdlib socket, or gevent's SSL socket for wss
        self.reader: gevent.Greenlet | None = None
        self.reactor: Reactor | None = None
        self.open = False
        self._lock = Semaphore()
        self._partial: list[bytes] = []
        self._fast = not self.proto.uri.secure  # our own frame parser (see _fast_frames)
        self._buf = bytearray()

    def connect(self, timeout: float) -> None:
        """Open the TCP connection, do the handshake and start reading."""
        uri = self.proto.uri
        try:
            gsock = socket.create_connection((uri.host, uri.port), timeout=timeout)
            gsock.setsockopt(_stdlib_socket.IPPROTO_TCP, _stdlib_socket.TCP_NODELAY, 1)
            if uri.secure:
                from gevent import ssl

                ctx = ssl.create_default_context()
                self.sock = ctx.wrap_socket(gsock, server_hostname=uri.host)
            else:
                self.sock = _RawSocket(fileno=gsock.detach())
                self.sock.setblocking(False)
            self.proto.send_request(self.proto.connect())
            self._flush()
            self._handshake(timeout)
        except (OSError, gevent.Timeout) as exc:
            self._close_socket()
            raise ConnectError(f"{self.url}: {exc}") from exc
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
        with gevent.Timeout(timeout):
            if self._fast:  # the head alone: the frames after it are ours to parse
                self.proto.receive_data(self._read_head())
                events = self.proto.events_received()
            else:
                while True:
                    data = self._recv()
                    now = time.time_ns()
                    if not data:
                        raise ConnectError(f"{self.url}: connection closed during the handshake")
                    self.proto.receive_data(data)
                    events = self.proto.events_received()
                    if events:
                        break
        response = events[0] if events else None
        if not isinstance(response, Response) or self.proto.handshake_exc is not None:
            raise ConnectError(f"{self.url}: handshake refused ({self.proto.handshake_exc})")
        if not self._fast:
            self._dispatch(events[1:], now)

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
                raise ConnectError(f"{self.url}: connection closed during the handshake")
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
        except OSError:
            pass
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
            if n > 2 and data[0] == 0x81 and self._fast and not self._buf:
                # The common case, in short: exactly one whole text frame under 64 KiB.
                b1 = data[1]
                if b1 < 126 and b1 + 2 == n:
                    self.on_frame(bytes(data[2:]), now)
                    return
                if b1 == 126 and n > 4 and (data[2] << 8 | data[3]) + 4 == n:
                    self.on_frame(bytes(data[4:]), now)
                    return
            if self._received(data, now):
                return
        except OSError:
            pass
        except Exception:  # a callback's bug must not stop the other connections' reading
            log.exception("reading %s", self.url)
        self._ended(now)

    def _received(self, data: bytes | memoryview, now: int) -> bool:
        """Parse and dispatch `data`; False when the connection is over."""
        if not data:
            return False
        if self._fast:
            data = self._fast_frames(data, now)
            if not data:
                return True
        proto = self.proto
        proto.receive_data(bytes(data))
        self._dispatch(proto.events_received(), now)
        if proto.writes or proto.close_expected():
            self._flush()
        return not proto.close_expected()

    def _fast_frames(self, data: bytes | memoryview, now: int) -> bytes:
        """Parse the server's frames here (websockets' parser costs about 7 us a frame).

        Server frames are unmasked and, without extensions, have no RSV bits: text and
        continuation frames go straight to `on_frame`, a complete ping or pong to websockets'
        protocol (which answers pings). Anything else (close, binary, a protocol error) ends
        the fast path: the bytes from that frame on, and all later ones, go to websockets.
        Returns those bytes (b"" while on the fast path).
        """
        buf = self._buf
        if buf:  # the start of a frame was left from the last read
            data = bytes(buf) + bytes(data)
            buf.clear()
        size, pos = len(data), 0
        while size - pos >= 2:
            b0, b1 = data[pos], data[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
            opcode = b0 & 0x0F
            if b1 & 0x80 or b0 & 0x70 or opcode not in _FAST_OPCODES:
                self._fast = False
                return bytes(data[pos:])
            end = pos + head + length
            if end > size:
                break
            if opcode == 1:  # text
                if b0 & 0x80:
                    self.on_frame(bytes(data[pos + head : end]), now)
                else:
                    self._partial = [bytes(data[pos + head : end])]
            elif opcode == 0:  # continuation
                if self._partial:
                    self._partial.append(bytes(data[pos + head : end]))
                    if b0 & 0x80:
                        self.on_frame(b"".join(self._partial), now)
                        self._partial = []
            else:  # ping or pong: websockets answers
                self.proto.receive_data(bytes(data[pos:end]))
                self.proto.events_received()
                if self.proto.writes:
                    self._flush()
            pos = end
        if pos < size:
            buf += data[pos:]
        return b""

    def _dispatch(self, frames: Sequence[object], now: int) -> None:
        for frame in frames:
            opcode = frame.opcode  # type: ignore[attr-defined]
            if opcode is Opcode.TEXT:
                if frame.fin:  # type: ignore[attr-defined]
                    self.on_frame(frame.data, now)  # type: ignore[attr-defined]
                else:
                    self._partial = [frame.data]  # type: ignore[attr-defined]
            elif opcode is Opcode.CONT and self._partial:
                self._partial.append(frame.data)  # type: ignore[attr-defined]
                if frame.fin:  # type: ignore[attr-defined]
                    self.on_frame(b"".join(self._partial), now)
                    self._partial = []

    def _flush(self) -> None:
        assert self.sock is not None
        with self._lock:
            for chunk in self.proto.data_to_send():
                if chunk:
                    self._sendall(chunk)

    def send_text(self, data: bytes) -> None:
        """Send one text frame (`data` is UTF-8)."""
        if self._fast and self.proto.state is State.OPEN:
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
        if was_open:
            self.on_close(now)
