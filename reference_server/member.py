"""A member's outbox: frames go straight to the socket, or wait in a bounded queue.

Write-through: while nothing is queued and the transport takes data, `deliver` writes the
frame's bytes to the transport at once (no task switch, no ASGI message per frame). Once the
transport pushes back (asyncio's pause_writing: its buffer is over the high-water mark), frames
wait in a queue of at most `limit` frames for a writer task the connection starts then (and
that ends once the queue is empty: an idle member has no task waiting); a frame that finds the
queue full marks the member for eviction instead (`flow.evict`), so the room never waits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

from reference_server import frames

SLOW_CONSUMER = 1008
GOING_AWAY = 1001


class CloseRequest(NamedTuple):
    """Why the server wants a connection closed: a WebSocket close code and reason."""

    code: int
    reason: str


class Sink(Protocol):
    """Where a member's frames can be written without waiting (the connection's transport)."""

    def can_write(self) -> bool:
        """True when the connection is open and its transport is not pushing back."""

    def write(self, data: bytes) -> None:
        """Hand encoded frames to the transport (never waits)."""


class Member:
    """One connection as the hub sees it: a name, a room and a non-blocking `deliver`.

    Frames are written through to `sink` while it takes data and nothing is queued; otherwise
    they wait in a queue of at most `limit` frames, and `on_queued` (the connection's) is told
    so it can send them. A frame that finds the queue full is not queued: the member is marked
    for eviction (`flow.evict`, close 1008 "slow consumer") and gets nothing more, so the room
    never waits.
    """

    __slots__ = (
        "_queue",
        "close_request",
        "limit",
        "name",
        "on_close_request",
        "on_queued",
        "overflowed",
        "room",
        "sink",
    )

    def __init__(self, name: str, room: str, limit: int) -> None:
        self.name = name
        self.room = room
        self.limit = limit
        self.overflowed = False
        self.close_request: CloseRequest | None = None
        self.on_close_request: Callable[[], object] | None = None
        """Called once on the first close request: it ends the connection's reading and writing."""
        self.on_queued: Callable[[], object] | None = None
        """Called each time a frame is queued: the connection makes sure a writer sends it."""
        self.sink: Sink | None = None
        """Set by the connection once it can write through; None: queue everything."""
        self._queue: list[str] = []  # at most `limit`, and empty but under back-pressure

    def deliver(self, frame: str, wire: bytes | None = None) -> None:
        """Send `frame` (encoded as `wire` when given) or queue it, without ever waiting."""
        if self.close_request is not None:
            return
        sink = self.sink
        if sink is not None and not self._queue and sink.can_write():
            # Nothing queued, so nothing older can be overtaken: per-sender order holds.
            sink.write(frames.wire(frame) if wire is None else wire)
            return
        if len(self._queue) >= self.limit:
            self.overflowed = True
            self.request_close(SLOW_CONSUMER, "slow consumer")
            return
        self._queue.append(frame)
        if self.on_queued is not None:
            self.on_queued()

    def request_close(self, code: int, reason: str) -> None:
        """Ask the connection to close with `code`; the first request wins. Never waits."""
        if self.close_request is None:
            self.close_request = CloseRequest(code, reason)
            self._queue.clear()
            if self.on_close_request is not None:
                self.on_close_request()

    def has_queued(self) -> bool:
        """True while frames wait to be sent (and no close was requested)."""
        return bool(self._queue) and self.close_request is None

    def take_queued(self) -> list[str]:
        """Every queued frame, oldest first, leaving the queue empty."""
        taken = list(self._queue)
        self._queue.clear()
        return taken

    def pop_queued(self) -> str:
        """The oldest queued frame, taken off the queue (`has_queued` must be True)."""
        return self._queue.pop(0)  # only off our protocol (another ASGI server)

    def __repr__(self) -> str:
        return f"Member({self.name!r}, room={self.room!r}, queued={len(self._queue)})"
