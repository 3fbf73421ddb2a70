"""RedisHub: the reference server's `Hub` for several processes sharing one Redis.

Every room event goes through the room's channel, local members included: the channel is the
room's one total order, so each sender's messages reach every member, on every process, in the
order sent (message.order), and a joiner's welcome sits exactly where it was counted. A process
subscribes to a room's channel when its first local member joins and unsubscribes when the last
one leaves; it publishes once per message.

When Redis cannot be reached the hub degrades to a single-process hub: members of the same
process keep chatting (welcome counts local members), other processes hear nothing. What changed
meanwhile (joins and leaves) is replayed to Redis when the link is back, and announced to the
other processes then; messages sent during the outage are not replayed (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from reference_server import frames
from reference_server.cluster import envelope, scripts
from reference_server.cluster.config import ClusterConfig
from reference_server.cluster.envelope import Envelope, Keys
from reference_server.cluster.link import Link, LinkDown
from reference_server.cluster.presence import Presence
from reference_server.cluster.roster import Roster, snapshot_members
from reference_server.hub import Recipient

log = logging.getLogger("reference_server.cluster")


def new_node_id() -> str:
    """A node id unique across hosts and restarts: host, pid and randomness."""
    host = socket.gethostname().split(".")[0].replace(" ", "_").replace(":", "_")[:20]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass(eq=False)
class _Pending:
    """A joiner waiting for its own `j` envelope to come back through the room's channel."""

    member: Recipient
    future: asyncio.Future[int]
    task: asyncio.Task[int] | None = None
    in_redis: bool = False


@dataclass(eq=False)
class _Room:
    members: dict[Recipient, None] = field(default_factory=dict)
    pending: dict[str, _Pending] = field(default_factory=dict)
    online: int = 0
    """Global count carried by the last `j`/`l`/`s` envelope seen."""
    roster: Roster = field(default_factory=Roster)
    """The other processes' members (reference_server.cluster.roster)."""


@dataclass(frozen=True)
class _Change:
    """A join or leave this process could not tell Redis yet (it happened during an outage)."""

    kind: str
    room: str
    name: str
    member: Recipient | None = None


class RedisHub:
    """A `Hub` whose rooms span every process sharing `config.url`."""

    def __init__(self, config: ClusterConfig, node_id: str | None = None) -> None:
        self.config = config
        self.node_id = node_id or new_node_id()
        self.link = Link(config, self._on_message, self._resync, [self._heartbeat, self._reap])
        db = int(self.link.redis.connection_pool.connection_kwargs.get("db") or 0)
        self.keys = Keys(config.prefix, db)
        leave = self.link.redis.register_script(scripts.LEAVE)
        self._join_script = self.link.redis.register_script(scripts.JOIN)
        self._snapshot_script = self.link.redis.register_script(scripts.SNAPSHOT)
        self._hold_leaves_until = 0.0
        """After Redis lost its data: until then, a member missing from a snapshot may only
        belong to a process still reconnecting (its leave waits for a later snapshot)."""
        self._later: set[asyncio.Task[None]] = set()
        self.presence = Presence(self.link, self.keys, self.node_id, leave)
        self._rooms: dict[str, _Room] = {}
        self._ids: dict[Recipient, str] = {}
        self._unsynced: dict[str, _Change] = {}
        self._seq = itertools.count(1)
        self._registered = False
        self._message_prefix = envelope.message_prefix(self.node_id)
        self._publish_cmd = config.commands[0]

    # -- Hub interface ---------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to Redis (in the background if it is down: the server starts degraded)."""
        await self.link.start(wait=self.config.op_timeout * 2)

    async def stop(self) -> None:
        """Announce members still here as left, unregister this node, close connections."""
        if self.link.healthy:
            with contextlib.suppress(LinkDown):
                for member in list(self._ids):
                    await self.leave(member)
                await self.presence.unregister()
        await self.link.stop()
        for task in self._later:
            task.cancel()
        self._rooms.clear()
        self._ids.clear()

    async def join(self, member: Recipient) -> int:
        """Count `member` in its room on every process, welcome it, announce it to the others."""
        member_id = f"{self.node_id}:{next(self._seq)}"
        self._ids[member] = member_id
        room = self._rooms.get(member.room)
        if room is None:
            room = self._rooms[member.room] = _Room()
        if not self.link.healthy:
            self._unsynced[member_id] = _Change("join", member.room, member.name, member)
            return self._join_locally(member, room)
        pending = _Pending(member, asyncio.get_running_loop().create_future())
        room.pending[member_id] = pending
        pending.task = asyncio.create_task(self._join_through_redis(pending, member_id))
        # Shielded: a cancelled join still completes in Redis, so that leave() can undo it.
        return await asyncio.shield(pending.task)

    async def leave(self, member: Recipient) -> bool:
        """Remove `member` everywhere and announce `NAME left` once."""
        member_id = self._ids.pop(member, None)
        if member_id is None:
            return False
        room = self._rooms.get(member.room)
        pending = room.pending.pop(member_id, None) if room else None
        if room is not None:
            room.members.pop(member, None)
            if not room.members and not room.pending:
                del self._rooms[member.room]
                self.link.unsubscribe(self.keys.channel(member.room))
        if pending is not None:
            if not pending.future.done():
                pending.future.set_result(0)
            if pending.task is not None:  # its script must run before ours
                await asyncio.gather(pending.task, return_exceptions=True)
            if not pending.in_redis:
                return True  # nobody anywhere heard it join
        change = self._unsynced.pop(member_id, None)
        if change is None and self.link.healthy:
            with contextlib.suppress(LinkDown):
                await self._leave_through_redis(member_id, member.room, member.name)
                return True
        if room is not None:
            _fan_out(room.members, frames.left(member.name))
        if change is None:  # Redis knows it: tell Redis when it is back
            self._unsynced[member_id] = _Change("leave", member.room, member.name)
        return True

    async def publish(self, room: str, frame: str) -> int:
        """One PUBLISH; every process (this one too) delivers it from the channel."""
        local = self._rooms.get(room)
        count = len(local.members) if local else 0
        if self.link.healthy:
            try:
                await self.link.publish(self.keys.channel(room), self._message_prefix + frame)
                return count
            except LinkDown:
                pass  # degraded from now on: deliver here, like a single-process server
        if local is not None:
            _fan_out(local.members, frame)
        return count

    def online(self, room: str) -> int:
        """Members of `room` on every process as last announced; local members when degraded."""
        local = self._rooms.get(room)
        if local is None:
            return 0
        return local.online if self.link.healthy else len(local.members)

    def counts(self) -> tuple[int, int]:
        """(rooms, members) of this process."""
        return len(self._rooms), sum(len(r.members) for r in self._rooms.values())

    def health(self, details: bool = False) -> dict[str, Any]:
        """For /healthz: the link's state; `details` adds where Redis is (the last error names
        its host), this node's id (host name and PID) and the reap bound."""
        status = self.link.status(details)
        status.update(unsynced_changes=len(self._unsynced), reaped=self.presence.reaped_members)
        if details:
            status.update(node=self.node_id, reap_bound_s=self.config.reap_bound)
        return status

    @property
    def healthy(self) -> bool:
        """False while Redis is unreachable (degraded: local delivery only)."""
        return self.link.healthy

    # -- joining ---------------------------------------------------------------------------

    async def _join_through_redis(self, pending: _Pending, member_id: str) -> int:
        member = pending.member
        try:
            down = self.link.down_event()  # of this session: a later one will not echo our `j`
            await self.link.ensure_subscribed(self.keys.channel(member.room))
            room = self._rooms.get(member.room)
            if room is not None and not room.roster.synced:
                await self._snapshot(member.room)  # the other processes' members, from now on
            await self._index_add({member_id: member})
            if pending.future.done():
                return 0  # left before it was announced
            await self._run_join(member_id, member.room, member.name, "always", skip=False)
            pending.in_redis = True
            # Its own `j` comes back through the channel, unless the link fails first.
            failed = asyncio.ensure_future(down.wait())
            waits: list[asyncio.Future[Any]] = [pending.future, failed]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                failed.cancel()
            if not pending.future.done():
                raise LinkDown("the link failed before the join came back")
            return pending.future.result()
        except LinkDown:
            return self._join_after_failure(pending, member_id)

    def _join_after_failure(self, pending: _Pending, member_id: str) -> int:
        """The link broke mid-join: finish the join in this process alone."""
        member = pending.member
        room = self._rooms.get(member.room)
        if room is None or room.pending.pop(member_id, None) is None:
            return 0  # the member left meanwhile
        if not pending.in_redis:
            self._unsynced[member_id] = _Change("join", member.room, member.name, member)
        online = self._join_locally(member, room)
        pending.future.set_result(online)
        return online

    def _join_locally(self, member: Recipient, room: _Room) -> int:
        member.deliver(frames.welcome(member.room, len(room.members) + 1))
        _fan_out(room.members, frames.joined(member.name))
        room.members[member] = None
        return len(room.members)

    async def _run_join(self, member_id: str, room: str, name: str, mode: str, skip: bool) -> int:
        head = envelope.header(envelope.JOINED, self.node_id, member_id, skip)
        args = [self._publish_cmd, self.keys.channel(room), member_id, name, head]
        args += [frames.joined(name), mode]
        keys = [self.keys.members(room)]
        return int(await self.link.run(lambda: self._join_script(keys=keys, args=args)))

    async def _index_add(self, members: dict[str, Recipient]) -> None:
        if members:
            index = self.keys.node(self.node_id, "members")
            mapping = {mid: envelope.index_value(m.room, m.name) for mid, m in members.items()}
            await self.link.run(lambda: self.link.redis.hset(index, mapping=mapping))  # type: ignore[arg-type]

    async def _leave_through_redis(
        self, member_id: str, room: str, name: str, skip: bool = False, always: bool = False
    ) -> None:
        await self.presence.announce_left(
            member_id, room, name, self.node_id, skip, always, control=False
        )
        index = self.keys.node(self.node_id, "members")
        await self.link.run(lambda: self.link.redis.hdel(index, member_id))

    # -- the room channels -----------------------------------------------------------------

    def _on_message(self, channel: str, data: bytes) -> None:
        room_id = self.keys.room_of_channel(channel)
        room = self._rooms.get(room_id) if room_id is not None else None
        if room is None:
            return  # the last local member left; the UNSUBSCRIBE is on its way
        try:
            event = envelope.decode(data)
        except ValueError as exc:
            log.warning("ignoring a foreign message on %s: %s", channel, exc)
            return
        if event.kind != envelope.MESSAGE:
            room.online = event.online
            if event.kind == envelope.SNAPSHOT:
                if event.origin == self.node_id and room_id is not None:
                    self._reconcile(room_id, room, event)
                return
            if event.origin != self.node_id and not room.roster.hears(event):
                return  # told already (a restore after an outage, or a snapshot's leave)
        if event.origin == self.node_id:
            if event.skip_origin:
                return  # delivered here already, during an outage
            if event.kind == envelope.JOINED and event.member in room.pending:
                self._welcome(room, room.pending.pop(event.member), event)
                return
        _fan_out(room.members, event.frame)

    def _welcome(self, room: _Room, pending: _Pending, event: Envelope) -> None:
        """The joiner's own `j` came back: from here on it gets every event of the room."""
        pending.member.deliver(frames.welcome(pending.member.room, event.online))
        _fan_out(room.members, event.frame)
        room.members[pending.member] = None
        if not pending.future.done():
            pending.future.set_result(event.online)

    # -- what this process missed (reference_server.cluster.roster) ------------------------

    async def _snapshot(self, room: str) -> None:
        """Ask for the room's members through its channel (the `s` comes back in order)."""
        head = envelope.header(envelope.SNAPSHOT, self.node_id)
        args, keys = [self._publish_cmd, self.keys.channel(room), head], [self.keys.members(room)]
        await self.link.run(lambda: self._snapshot_script(keys=keys, args=args))

    def _reconcile(self, room_id: str, room: _Room, event: Envelope) -> None:
        """Our snapshot came back: tell our members what they missed."""
        loop = asyncio.get_running_loop()
        hold = loop.time() < self._hold_leaves_until
        result = room.roster.reconcile(snapshot_members(event.frame), f"{self.node_id}:", hold)
        for name in result.joined:
            _fan_out(room.members, frames.joined(name))
        for name in result.left:
            _fan_out(room.members, frames.left(name))
        if result.held:
            self._snapshot_at(room_id, self._hold_leaves_until)

    def _snapshot_at(self, room: str, when: float) -> None:
        async def later() -> None:
            await asyncio.sleep(max(0.0, when - asyncio.get_running_loop().time()))  # a delay
            if room in self._rooms and self.link.healthy:
                with contextlib.suppress(LinkDown):
                    await self._snapshot(room)

        task = asyncio.create_task(later())
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    # -- the link's session loops ----------------------------------------------------------

    async def _heartbeat(self) -> None:
        await self.presence.heartbeat_loop()

    async def _reap(self) -> None:
        await self.presence.reap_loop()

    async def _resync(self) -> None:
        """After (re)connecting: presence, subscriptions, then what changed while down."""
        reaped, known = await self.presence.register()
        data_lost = self._registered and not reaped and not known
        self._registered = True
        if reaped or data_lost:
            log.warning("resync: %s", "this node was reaped" if reaped else "Redis lost its data")
        if data_lost:  # processes still reconnecting are not in Redis yet: not gone
            self._hold_leaves_until = asyncio.get_running_loop().time() + self.config.reap_bound
        channels = [self.keys.channel(room) for room in self._rooms]
        await asyncio.gather(*(self.link.ensure_subscribed(ch) for ch in channels))
        # What the other processes did while we did not listen (reference_server.cluster.roster)
        await asyncio.gather(*(self._snapshot(room) for room in list(self._rooms)))
        synced = {mid: m for m, mid in self._ids.items() if mid not in self._unsynced}
        synced = {mid: m for mid, m in synced.items() if m in self._room_members(m.room)}
        await self._index_add(synced)
        # Members the others saw leave (we were reaped) or that Redis forgot (it lost its data)
        # are announced again: a process that knew them takes it as no news (its roster);
        # otherwise they are quietly restored.
        mode = "if-added" if reaped or data_lost else "never"
        for mid, member in synced.items():
            await self._run_join(mid, member.room, member.name, mode, skip=True)
        while self._unsynced:
            member_id = next(iter(self._unsynced))
            await self._replay(member_id, self._unsynced.pop(member_id), data_lost)

    async def _replay(self, member_id: str, change: _Change, data_lost: bool) -> None:
        """Tell Redis (and the other processes) about one change made during the outage."""
        try:
            if change.kind == "join" and change.member is not None:
                await self.link.ensure_subscribed(self.keys.channel(change.room))
                await self._index_add({member_id: change.member})
                await self._run_join(member_id, change.room, change.name, "if-added", skip=True)
            elif change.kind == "leave":
                # With Redis's data gone, HDEL finds nothing: announce anyway, the others saw it.
                await self._leave_through_redis(
                    member_id, change.room, change.name, skip=True, always=data_lost
                )
        except LinkDown:
            if change.kind == "leave" or change.member in self._ids:
                self._unsynced.setdefault(member_id, change)
            raise

    def _room_members(self, room: str) -> dict[Recipient, None]:
        local = self._rooms.get(room)
        return local.members if local else {}


def _fan_out(members: dict[Recipient, None], frame: str) -> None:
    # deliver() never changes membership, so iterating the live dict is safe.
    encoded = frames.wire(frame)
    for member in members:
        member.deliver(frame, encoded)
