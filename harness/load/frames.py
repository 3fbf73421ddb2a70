"""The server's WebSocket frames, parsed without I/O, trusting nothing the server sends.

`FrameParser.feed(data, now)` takes the bytes of one read: each complete text message goes to
`on_frame(payload, now)`, each ping or pong frame to `on_control(frame)` (the client hands those
to websockets' protocol, which answers pings). Server frames are unmasked and, without
extensions, have no RSV bits; anything else this parser does not handle (close, binary, RSV
bits, a masked frame, a reserved opcode) ends the fast path: `feed` returns the bytes from that
frame on, and the caller gives them and all later bytes to websockets' parser (itself bounded
by the same limit).

What a hostile server cannot do here (each raises `ProtocolViolation`, whose code the client
closes with, counted as a protocol error of that connection):

- grow the generator's memory: a message, all its fragments together, over `max_message_bytes`
  is refused from the header of the frame that would pass the limit, before its payload is
  buffered (1009), so a connection never holds more than the limit plus one frame header;
- break fragmentation (5.4): a text frame while a fragmented message is open, a continuation
  without one, a binary frame inside one (1002);
- break control frames (5.5: "All control frames MUST have a payload length of 125 bytes or
  less and MUST NOT be fragmented") (1002);
- send text that is not UTF-8 (8.1: "the endpoint MUST Fail the WebSocket Connection") (1007):
  found where the message is parsed (orjson rejects invalid UTF-8), so `on_frame` raises
  `invalid_utf8()` and the parser's hot path pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

OnFrame = Callable[[bytes, int], object]  # what it returns is ignored
MAX_MESSAGE_BYTES = 1_048_576
"""Default bound on one server message (`--max-message-bytes`)."""
MIN_MESSAGE_BYTES = 1024  # a welcome or an event must fit
_FAST_OPCODES = frozenset((0, 1, 9, 10))  # continuation, text, ping, pong

# How a connection that chatbench did not end, ended (`Ending.how`).
CLOSED = "closed"  # the server sent a close frame (`code` is its close code)
LOST = "lost"  # the stream ended without a close frame
PROTOCOL = "protocol"  # the server broke RFC 6455; chatbench failed the connection with `code`
HARNESS = "harness"  # a bug in chatbench ended it: never the server's fault


class Ending(NamedTuple):
    """How a connection ended: `how` (CLOSED, LOST, PROTOCOL, HARNESS), a code, a reason."""

    how: str
    code: int | None
    detail: str


class ProtocolViolation(Exception):
    """The server broke RFC 6455: fail the connection with `code` (1002, 1007 or 1009)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{reason} ({code})")
        self.code = code
        self.reason = reason


def invalid_utf8(exc: UnicodeDecodeError | None = None) -> ProtocolViolation:
    """The violation of a text message that is not UTF-8."""
    where = f" at byte {exc.start}" if exc is not None else ""
    return ProtocolViolation(1007, f"text message is not valid UTF-8{where}")


class FrameParser:
    """The server-to-client frames of one connection (see the module docstring)."""

    def __init__(self, on_frame: OnFrame, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        if max_message_bytes < MIN_MESSAGE_BYTES:
            raise ValueError(f"max_message_bytes must be at least {MIN_MESSAGE_BYTES}")
        self.on_frame = on_frame
        self.max_message_bytes = max_message_bytes
        self.fast = True  # False once the bytes go to websockets' parser
        self._buf = bytearray()  # the start of a frame left from the last read
        self._fragment: bytearray | None = None  # the open fragmented message

    def on_control(self, frame: bytes) -> None:
        """A whole ping or pong frame, header included (override to answer pings)."""

    def reset(self) -> None:
        """Free what the parser holds (the connection is over)."""
        self._buf = bytearray()
        self._fragment = None

    def feed(self, data: bytes | memoryview, now: int) -> bytes:
        """Parse one read; the bytes for websockets' parser (b"" while on the fast path)."""
        buf = self._buf
        if buf:
            data = bytes(buf) + bytes(data)
            buf.clear()
        size, pos, limit = len(data), 0, self.max_message_bytes
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
                if opcode == 2 and self._fragment is not None:
                    raise ProtocolViolation(1002, "binary frame inside a fragmented message")
                self.fast = False
                return bytes(data[pos:])
            end = pos + head + length
            if opcode == 1:  # text
                if length > limit or self._fragment is not None:
                    raise self._refused(length)
                if end > size:
                    break
                if b0 & 0x80:
                    self.on_frame(bytes(data[pos + head : end]), now)
                else:
                    self._fragment = bytearray(data[pos + head : end])
            elif opcode == 0:  # continuation
                fragment = self._fragment
                if fragment is None:
                    raise ProtocolViolation(1002, "continuation frame without a message")
                if len(fragment) + length > limit:
                    raise self._refused(len(fragment) + length)
                if end > size:
                    break
                fragment += data[pos + head : end]
                if b0 & 0x80:
                    self._fragment = None
                    self.on_frame(bytes(fragment), now)
            else:  # ping or pong
                if length > 125 or not b0 & 0x80:
                    raise self._bad_control(length)
                if end > size:
                    break
                self.on_control(bytes(data[pos:end]))
            pos = end
        if pos < size:
            buf += data[pos:]
        return b""

    def _refused(self, length: int) -> ProtocolViolation:
        if length > self.max_message_bytes:
            limit = self.max_message_bytes
            return ProtocolViolation(1009, f"message of {length} bytes over the {limit} limit")
        return ProtocolViolation(1002, "text frame inside a fragmented message")

    @staticmethod
    def _bad_control(length: int) -> ProtocolViolation:
        if length > 125:
            return ProtocolViolation(1002, f"control frame over 125 bytes ({length})")
        return ProtocolViolation(1002, "fragmented control frame")
