"""A lean WebSocket client for gevent: websockets' sans-I/O ClientProtocol over a gevent socket.

One reader greenlet per connection reads whatever the socket holds, takes one `time.time_ns()`
for the whole read (every frame in it had arrived by then) and hands each text frame to a
callback. No background thread per connection (unlike websockets' sync client), no Locust
event per frame. Parsing costs about 2 us a frame (websockets' C-accelerated framing).
"""

from __future__ import annotations

import contextlib
import socket as _stdlib_socket
import struct
import time
from collections.abc import Callable, Sequence

import gevent
from gevent import socket
from gevent.lock import Semaphore
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

OnFrame = Callable[[bytes, int], None]
OnClose = Callable[[int], None]
READ_BYTES = 262_144


class ConnectError(Exception):
    """The connection or the WebSocket handshake failed."""


class WsClient:
    """One WebSocket connection; frames go to `on_frame(payload, received_ns)`."""

    def __init__(self, url: str, on_frame: OnFrame, on_close: OnClose) -> None:
        self.url = url
        self.on_frame = on_frame
        self.on_close = on_close
        self.proto = ClientProtocol(parse_uri(url), max_size=None)
        self.sock: socket.socket | None = None
        self.reader: gevent.Greenlet | None = None
        self.open = False
        self._lock = Semaphore()
        self._partial: list[bytes] = []

    def connect(self, timeout: float) -> None:
        """Open the TCP connection, do the handshake and start the reader greenlet."""
        uri = self.proto.uri
        try:
            sock = socket.create_connection((uri.host, uri.port), timeout=timeout)
            sock.setsockopt(_stdlib_socket.IPPROTO_TCP, _stdlib_socket.TCP_NODELAY, 1)
            if uri.secure:
                from gevent import ssl

                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=uri.host)
            self.sock = sock
            self.proto.send_request(self.proto.connect())
            self._flush()
            self._handshake(timeout)
        except (OSError, gevent.Timeout) as exc:
            self._close_socket()
            raise ConnectError(f"{self.url}: {exc}") from exc
        sock.settimeout(None)
        self.open = True
        self.reader = gevent.spawn(self._read_loop)

    def _handshake(self, timeout: float) -> None:
        assert self.sock is not None
        with gevent.Timeout(timeout):
            while True:
                data = self.sock.recv(READ_BYTES)
                now = time.time_ns()
                if not data:
                    raise ConnectError(f"{self.url}: connection closed during the handshake")
                self.proto.receive_data(data)
                events = self.proto.events_received()
                if events:
                    break
        response = events[0]
        if not isinstance(response, Response) or self.proto.handshake_exc is not None:
            raise ConnectError(f"{self.url}: handshake refused ({self.proto.handshake_exc})")
        self._dispatch(events[1:], now)

    def _read_loop(self) -> None:
        sock = self.sock
        assert sock is not None
        proto = self.proto
        try:
            while True:
                data = sock.recv(READ_BYTES)
                now = time.time_ns()
                if not data:
                    break
                proto.receive_data(data)
                self._dispatch(proto.events_received(), now)
                if proto.writes or proto.close_expected():
                    self._flush()
                if proto.close_expected():
                    break
        except OSError:
            pass
        self._ended(time.time_ns())

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
                    self.sock.sendall(chunk)

    def send_text(self, data: bytes) -> None:
        """Send one text frame (`data` is UTF-8)."""
        with self._lock:
            self.proto.send_text(data)
            assert self.sock is not None
            for chunk in self.proto.data_to_send():
                if chunk:
                    self.sock.sendall(chunk)

    def stop_reading(self) -> None:
        """Read nothing more (a slow consumer): the server's buffers toward us fill up."""
        if self.reader is not None:
            self.reader.kill(block=False)
            self.reader = None

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
                            self.sock.sendall(chunk)
            except Exception:  # the peer may be gone already; closing is best effort
                pass
        self._shutdown()

    def _shutdown(self) -> None:
        reader, self.reader = self.reader, None
        self.open = False
        self._close_socket()
        if reader is not None and reader is not gevent.getcurrent():
            reader.kill(block=False)

    def _close_socket(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()

    def _ended(self, now: int) -> None:
        was_open, self.open = self.open, False
        self._close_socket()
        if was_open:
            self.on_close(now)
