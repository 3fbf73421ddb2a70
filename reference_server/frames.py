"""Server events (docs/protocol.md section 12) serialized to frame text, once per event.

A broadcast builds its frame here once and hands the same string to every member, with its
wire encoding (`wire`), also built once: server frames are unmasked and uncompressed (the server
turns permessage-deflate off), so every member gets the very same bytes.
"""

from __future__ import annotations

import orjson


def _dump(event: dict[str, object]) -> str:
    return orjson.dumps(event).decode()


def welcome(room: str, online: int) -> str:
    """`join.welcome`: the joiner's first frame."""
    return _dump({"type": "welcome", "room": room, "online": online})


def joined(name: str) -> str:
    """`join.announce`: told to every other member."""
    return _dump({"type": "system", "message": f"{name} joined"})


def left(name: str) -> str:
    """`leave.clean` / `leave.abrupt`: told to the remaining members."""
    return _dump({"type": "system", "message": f"{name} left"})


def message(user: str, text: str, room: str) -> str:
    """`message.broadcast`: one chat message for every member, the sender included."""
    return _dump({"type": "message", "user": user, "text": text, "room": room})


def error(code: str, detail: str) -> str:
    """`input.error-event`: told to the sender of an invalid frame only."""
    return _dump({"type": "error", "code": code, "message": detail})


def wire(text: str) -> bytes:
    """`text` as one unmasked, unfragmented WebSocket text frame (RFC 6455 section 5.2)."""
    data = text.encode()
    n = len(data)
    if n < 126:
        return bytes((0x81, n)) + data
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + data
    return b"\x81\x7f" + n.to_bytes(8, "big") + data
