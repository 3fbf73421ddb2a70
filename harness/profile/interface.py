"""The one interface chatbench speaks to a chat server through: a `ChatProtocol`.

Both the conformance client (harness/check) and the load generator (harness/load) use only
this: how to build a member's URL and handshake headers, which frames to send once connected,
how to encode a chat text, and what each frame the server sends is (an `Event`). A TOML profile
(`harness.profile.declarative`) is one implementation; a profile may instead name a Python
class (`adapter = "module:Class"`) implementing it. Pure: no I/O.
"""

from __future__ import annotations

import abc
from typing import NamedTuple

from harness.profile.model import Behaviour, Profile

WELCOME, JOINED, LEFT, MESSAGE, ERROR, OTHER = (
    "welcome",
    "joined",
    "left",
    "message",
    "error",
    "other",
)
KINDS = (WELCOME, JOINED, LEFT, MESSAGE, ERROR, OTHER)


class Event(NamedTuple):
    """What one server frame means: its kind and the fields the profile extracts.

    `kind` is one of `KINDS`; `user` is the member a joined, left or message event is about;
    `online` the member count of a welcome; `raw` the frame itself (str or bytes), for evidence.
    Frames a protocol uses for itself (Engine.IO pings, connect acks) are no event at all.
    """

    kind: str
    user: str | None = None
    text: str | None = None
    room: str | None = None
    online: int | None = None
    code: str | None = None
    raw: str | bytes = ""


class Session(abc.ABC):
    """One connection's view of the protocol: what to send first, what each frame is.

    `replies` collects frames the protocol must send back (a Socket.IO pong, the join frames
    once connected); the connection sends and clears them after each `receive`.
    """

    def __init__(self) -> None:
        self.replies: list[str] = []
        self.ready = False
        """True once the member asked to join (its join frames are out)."""

    @abc.abstractmethod
    def start(self) -> list[str]:
        """Frames to send right after the WebSocket handshake."""

    @abc.abstractmethod
    def receive(self, frame: str | bytes) -> Event | None:
        """The event `frame` carries (None for a frame of the protocol's own)."""

    def receive_utf8(self, payload: bytes) -> Event | None:
        """`receive` for a text frame given as its UTF-8 bytes (the load generator's reads);
        an OTHER event whose `raw` is `payload` when it is not UTF-8 (the caller fails the
        connection for it). A session may replace this with something faster."""
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            return Event(OTHER, raw=payload)
        return self.receive(text)


class ChatProtocol(abc.ABC):
    """How chatbench speaks to one kind of chat server (see the module docstring)."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.name = profile.name
        self.behaviour: Behaviour = profile.behaviour
        self.rooms = profile.connect.rooms
        """False: the server has one room for everybody."""

    @abc.abstractmethod
    def path(self, room: str, username: str | None, member: int) -> str:
        """The path and query of a member's WebSocket URL (None: without a username)."""

    def shown_path(self, room: str, username: str | None, member: int) -> str:
        """`path` as outputs may show it (tokens from the environment masked)."""
        return self.path(room, username, member)

    @abc.abstractmethod
    def headers(self, room: str, username: str, member: int) -> list[tuple[str, str]]:
        """Extra handshake headers."""

    @abc.abstractmethod
    def subprotocols(self) -> list[str]:
        """WebSocket subprotocols to offer."""

    @abc.abstractmethod
    def member_name(self, username: str, member: int) -> str:
        """How the server names this member in its events."""

    @abc.abstractmethod
    def encode(self, text: str) -> str:
        """The frame a member sends to say `text`."""

    @abc.abstractmethod
    def session(self, room: str, username: str, member: int) -> Session:
        """A fresh per-connection session."""

    def validate(self, frame: str | bytes) -> str | None:
        """Why `frame` breaks the protocol's event schema, or None (`schema.events`)."""
        return None
