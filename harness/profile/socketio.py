"""Socket.IO v4 over a plain WebSocket: Engine.IO v4 packets carrying Socket.IO v5 packets.

A client connects to `/socket.io/?EIO=4&transport=websocket`. Engine.IO packets are one text
frame each, the first character their type: `0` open (the server's handshake data), `1`
close, `2` ping (the server's: answered with `3` pong), `4` message, `6` noop. A message
carries a Socket.IO packet, again typed by its first character: `0` connect (the client sends
`40` once open; the server acknowledges `40{"sid": ...}`), `1` disconnect, `2` event
(`42["name", data...]`), `4` connect error. The profile's join frames go out once the
connect is acknowledged; events are matched as the JSON array `["name", data...]`, so the
profile's pointers read `/0` for the event name and `/1/...` for its payload. Pure: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from harness.profile.interface import ERROR, OTHER, Event, Session

if TYPE_CHECKING:
    from harness.profile.declarative import DeclarativeProtocol

OPEN, CLOSE, PING, PONG, MESSAGE, NOOP = "0", "1", "2", "3", "4", "6"
CONNECT, DISCONNECT, EVENT, CONNECT_ERROR = "0", "1", "2", "4"


class SocketIOSession(Session):
    """One Socket.IO connection: answers pings, connects its namespace, then joins."""

    def __init__(self, protocol: DeclarativeProtocol, join: list[str]) -> None:
        super().__init__()
        self.protocol = protocol
        self.join = join
        ns = protocol.profile.receive.namespace
        self.prefix = "" if ns == "/" else f"{ns},"

    def start(self) -> list[str]:
        """Nothing: the server speaks first (its open packet)."""
        return []

    def receive(self, frame: str | bytes) -> Event | None:
        """See Session.receive."""
        if type(frame) is not str or not frame:
            return Event(OTHER, raw=frame)
        kind = frame[0]
        if kind == MESSAGE:
            return self._packet(frame)
        if kind == PING:
            self.replies.append(PONG + frame[1:])
            return None
        if kind == OPEN:
            self.replies.append(f"{MESSAGE}{CONNECT}{self.prefix}")
            return None
        if kind in (PONG, NOOP):
            return None
        return Event(OTHER, raw=frame)

    def _packet(self, frame: str) -> Event | None:
        kind, body = frame[1:2], self._body(frame[2:])
        if kind == EVENT:
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                return Event(OTHER, raw=frame)
            return self.protocol.classify_object(data, frame)
        if kind == CONNECT:
            self.ready = True
            self.replies.extend(self.join)
            return None
        if kind == CONNECT_ERROR:
            return Event(ERROR, text=body, raw=frame)
        return Event(OTHER, raw=frame)

    def _body(self, rest: str) -> str:
        """The JSON part of a Socket.IO packet: after the namespace and any ack id."""
        if self.prefix and rest.startswith(self.prefix):
            rest = rest[len(self.prefix) :]
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        return rest[i:]


def validate(frame: str | bytes) -> str | None:
    """Why `frame` is not an Engine.IO v4 packet a Socket.IO server sends, or None."""
    if type(frame) is not str:
        return "a binary frame (Socket.IO binary attachments are not supported)"
    if not frame or frame[0] not in (OPEN, CLOSE, PING, PONG, MESSAGE, NOOP):
        return f"not an Engine.IO packet: {frame[:40]!r}"
    if frame[0] == MESSAGE and frame[1:2] == EVENT:
        body = frame[2:].split(",", 1)[-1] if frame[2:3] == "/" else frame[2:]
        body = body.lstrip("0123456789")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return f"a Socket.IO event that is not JSON: {exc}"
        if type(data) is not list or not data or type(data[0]) is not str:
            return 'a Socket.IO event is ["name", data...]'
    return None
