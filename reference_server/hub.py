"""Membership and fan-out behind one small interface, so a multi-process hub can plug in.

The connection code talks only to `Hub`: `join`, `leave`, `publish`, `online`. `LocalHub` keeps
rooms in this process. A Redis-backed hub (issue 4) implements the same methods: `publish` goes
through a channel per room, `online` counts members of every process.
"""

from __future__ import annotations

from typing import Protocol

from reference_server import frames


class Recipient(Protocol):
    """What a hub delivers to (reference_server.member.Member is one)."""

    name: str
    room: str

    def deliver(self, frame: str, wire: bytes | None = None) -> None:
        """Send or queue one frame (`wire`: its encoding, when the caller built it); never waits.

        A slow member is evicted, not awaited.
        """


class Hub(Protocol):
    """The rooms of a server. Implementations must keep these guarantees:

    - `join` delivers the welcome to the joiner before any other frame of the room reaches it,
      and announces `NAME joined` to every other member (join.welcome, join.announce);
    - `leave` is idempotent: `NAME left` is announced once per member, however many exit paths
      call it; after it returns the member gets no more frames and no longer counts;
    - `publish` hands the same frame to every member of the room without awaiting any of them.
    """

    async def start(self) -> None:
        """Acquire resources (connections to a broker); called at server start-up."""

    async def stop(self) -> None:
        """Release resources; called after every connection has been closed."""

    async def join(self, member: Recipient) -> int:
        """Add `member` to its room; returns the room's online count, the member included."""

    async def leave(self, member: Recipient) -> bool:
        """Remove `member` and announce it; False (and nothing sent) if it was not in."""

    async def publish(self, room: str, frame: str) -> int:
        """Deliver `frame` to every member of `room`; returns how many local members got it."""

    def online(self, room: str) -> int:
        """Members of `room` now."""

    def counts(self) -> tuple[int, int]:
        """(rooms, members) as this process knows them, for /stats."""


class LocalHub:
    """A `Hub` for one process. Its methods never await, so each runs atomically on the event
    loop: concurrent joins and leaves cannot interleave (flow.concurrency)."""

    def __init__(self) -> None:
        # A dict as an insertion-ordered set: members of one room, by identity.
        self._rooms: dict[str, dict[Recipient, None]] = {}

    async def start(self) -> None:
        """Nothing to acquire."""

    async def stop(self) -> None:
        """Forget every room."""
        self._rooms.clear()

    async def join(self, member: Recipient) -> int:
        """Add `member`, welcome it, then announce it to the others."""
        room = self._rooms.setdefault(member.room, {})
        room[member] = None
        member.deliver(frames.welcome(member.room, len(room)))
        _fan_out(room, frames.joined(member.name), skip=member)
        return len(room)

    async def leave(self, member: Recipient) -> bool:
        """Remove `member` and tell the rest of its room, once."""
        room = self._rooms.get(member.room)
        if room is None or member not in room:
            return False
        del room[member]
        if room:
            _fan_out(room, frames.left(member.name))
        else:
            del self._rooms[member.room]
        return True

    async def publish(self, room: str, frame: str) -> int:
        """Hand `frame` to every member of `room`."""
        members = self._rooms.get(room)
        if not members:
            return 0
        _fan_out(members, frame)
        return len(members)

    def online(self, room: str) -> int:
        """Members of `room` now."""
        return len(self._rooms.get(room, ()))

    def counts(self) -> tuple[int, int]:
        """(rooms, members)."""
        return len(self._rooms), sum(len(room) for room in self._rooms.values())


def _fan_out(members: dict[Recipient, None], frame: str, skip: Recipient | None = None) -> None:
    # deliver() never changes membership (an overflowing member is only marked for eviction),
    # so iterating the live dict is safe and avoids a copy per broadcast.
    encoded = frames.wire(frame)
    for member in members:
        if member is not skip:
            member.deliver(frame, encoded)
