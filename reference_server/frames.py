"""Server events (docs/protocol.md section 12) serialized to frame text, once per event.

A broadcast builds its frame here once and hands the same string to every member.
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
