"""A member's outbox: the bounded queue between the room and one connection's writer task."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

SLOW_CONSUMER = 1008
GOING_AWAY = 1001


class CloseRequest(NamedTuple):
    """Why the server wants a connection closed: a WebSocket close code and reason."""

    code: int
    reason: str


class Member:
    """One connection as the hub sees it: a name, a room and a non-blocking `deliver`.

    Frames wait in a queue of at most `limit` frames until the connection's writer task sends
    them. A frame that finds the queue full is not queued: the member is marked for eviction
    (`flow.evict`, close 1008 "slow consumer") and gets nothing more, so the room never waits.
    """

    __slots__ = (
        "_queue",
        "_ready",
        "close_request",
        "limit",
        "name",
        "on_close_request",
        "overflowed",
        "room",
    )

    def __init__(self, name: str, room: str, limit: int) -> None:
        self.name = name
        self.room = room
        self.limit = limit
        self.overflowed = False
        self.close_request: CloseRequest | None = None
        self.on_close_request: Callable[[], object] | None = None
        """Called once on the first close request: it stops a writer blocked on a full socket."""
        self._queue: deque[str] = deque()
        self._ready = asyncio.Event()

    def deliver(self, frame: str) -> None:
        """Queue `frame` for this member without ever waiting."""
        if self.close_request is not None:
            return
        if len(self._queue) >= self.limit:
            self.overflowed = True
            self.request_close(SLOW_CONSUMER, "slow consumer")
            return
        self._queue.append(frame)
        self._ready.set()

    def request_close(self, code: int, reason: str) -> None:
        """Ask the connection to close with `code`; the first request wins. Never waits."""
        if self.close_request is None:
            self.close_request = CloseRequest(code, reason)
            self._queue.clear()
            if self.on_close_request is not None:
                self.on_close_request()
        self._ready.set()

    async def next_frame(self) -> str | None:
        """The next frame to send, waiting for one; None once a close was requested."""
        while not self._queue and self.close_request is None:
            self._ready.clear()
            await self._ready.wait()
        if self.close_request is not None:
            return None
        return self._queue.popleft()

    def __repr__(self) -> str:
        return f"Member({self.name!r}, room={self.room!r}, queued={len(self._queue)})"
