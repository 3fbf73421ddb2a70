"""Global presence: each process heartbeats a key with a TTL; survivors reap the dead.

A process that dies without cleaning up (SIGKILL, OOM, host loss) leaves its members in the
rooms' hashes. Its heartbeat key expires after `node_ttl`; every process looks for expired
nodes every `reap_interval`. The first to take the node's reap lock (SET NX) announces each of
its members as left with the LEAVE script, whose HDEL makes each announcement happen at most
once even if two reapers (or the node itself, only slow, not dead) race. Then it forgets the
node and leaves a `reaped` marker so that a node that was merely stalled knows, when it comes
back, that its members were announced as left and must be announced as joined again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.commands.core import AsyncScript

from reference_server import frames
from reference_server.cluster import envelope
from reference_server.cluster.config import ClusterConfig
from reference_server.cluster.envelope import Keys
from reference_server.cluster.link import Link, LinkDown

log = logging.getLogger("reference_server.cluster")
T = TypeVar("T")
REAP_LOCK_MS = 30_000
REAPED_MARKER_S = 3600


class Presence:
    """Heartbeat, registration and reaping of one node."""

    def __init__(self, link: Link, keys: Keys, node_id: str, leave: AsyncScript) -> None:
        self.link, self.keys, self.node_id = link, keys, node_id
        self.config: ClusterConfig = link.config
        self.reaped_members = 0
        self._leave = leave
        self._publish = self.config.commands[0]

    async def _run(self, op: Callable[[], Awaitable[T]]) -> T:
        """Presence operations use the control connections: never queued behind joins."""
        return await self.link.run(op, control=True)

    def _ttl_ms(self) -> int:
        return int(self.config.node_ttl * 1000)

    async def register(self) -> tuple[bool, bool]:
        """Heartbeat now and join the node set; returns (was reaped, was known before)."""
        alive, reaped = (
            self.keys.node(self.node_id, "alive"),
            self.keys.node(self.node_id, "reaped"),
        )

        async def op() -> list[object]:
            pipe = self.link.control.pipeline(transaction=False)
            pipe.getdel(reaped)
            pipe.sismember(self.keys.nodes, self.node_id)
            pipe.set(alive, "1", px=self._ttl_ms())
            pipe.sadd(self.keys.nodes, self.node_id)
            return list(await pipe.execute())

        was_reaped, known, _, _ = await self._run(op)
        return was_reaped is not None, bool(known)

    async def unregister(self) -> None:
        """Forget this node (a clean shutdown, after its members left)."""

        async def op() -> None:
            pipe = self.link.control.pipeline(transaction=False)
            pipe.delete(
                self.keys.node(self.node_id, "alive"), self.keys.node(self.node_id, "members")
            )
            pipe.srem(self.keys.nodes, self.node_id)
            await pipe.execute()

        await self._run(op)

    async def heartbeat_loop(self) -> None:
        """Refresh the heartbeat key. If it had expired, or a reaper took this node for dead
        meanwhile, fail the session: the resynchronisation that follows re-registers it."""
        alive = self.keys.node(self.node_id, "alive")
        reaped = self.keys.node(self.node_id, "reaped")

        async def beat() -> list[object]:
            pipe = self.link.control.pipeline(transaction=False)
            pipe.set(alive, "1", px=self._ttl_ms(), xx=True)
            pipe.exists(reaped)
            return list(await pipe.execute())

        while True:
            refreshed, was_reaped = await self._run(beat)
            if not refreshed or was_reaped:
                raise LinkDown("this node's presence had expired: re-registering")
            await asyncio.sleep(self.config.heartbeat_interval)  # a period

    async def reap_loop(self) -> None:
        """Look for dead nodes every `reap_interval` and reap them, from `node_ttl` after the
        session started: after an outage every heartbeat has expired, and the others get that
        long to reconnect and beat again before they are taken for dead."""
        await asyncio.sleep(max(0.0, self.config.node_ttl - self.config.reap_interval))  # grace
        while True:
            await asyncio.sleep(self.config.reap_interval)  # a period
            for node in await self.dead_nodes():
                await self.reap(node)

    async def dead_nodes(self) -> list[str]:
        """Registered nodes whose heartbeat key has expired."""
        nodes = [
            _text(n) for n in await self._run(lambda: self.link.control.smembers(self.keys.nodes))
        ]
        others = [n for n in nodes if n != self.node_id]
        if not others:
            return []

        async def op() -> list[object]:
            pipe = self.link.control.pipeline(transaction=False)
            for node in others:
                pipe.exists(self.keys.node(node, "alive"))
            return list(await pipe.execute())

        alive = await self._run(op)
        return [node for node, exists in zip(others, alive, strict=True) if not exists]

    async def reap(self, node: str) -> int:
        """Announce every member of dead `node` as left, once; returns how many this call did."""
        redis, lock = self.link.control, self.keys.node(node, "reaping")
        if not await self._run(lambda: redis.set(lock, self.node_id, nx=True, px=REAP_LOCK_MS)):
            return 0  # another process is reaping it
        if await self._run(lambda: redis.exists(self.keys.node(node, "alive"))):
            await self._run(lambda: redis.delete(lock))
            return 0  # it came back since we looked
        index = self.keys.node(node, "members")
        entries = await self._run(lambda: redis.hgetall(index))
        announced = 0
        for member, value in entries.items():
            room, name = envelope.parse_index_value(_text(value))
            # skip=True: if the node is only stalled, not dead, its own members never see this.
            announced += await self.announce_left(_text(member), room, name, node, skip=True)
        await self._run(lambda: self._forget(node))
        log.warning("reaped dead node %s: %d member(s) announced as left", node, announced)
        self.reaped_members += announced
        return announced

    async def _forget(self, node: str) -> None:
        pipe = self.link.control.pipeline(transaction=False)
        pipe.delete(self.keys.node(node, "members"))
        pipe.srem(self.keys.nodes, node)
        pipe.set(self.keys.node(node, "reaped"), "1", ex=REAPED_MARKER_S)
        pipe.delete(self.keys.node(node, "reaping"))  # should it come back and die again
        await pipe.execute()

    async def announce_left(
        self,
        member: str,
        room: str,
        name: str,
        origin: str,
        skip: bool = False,
        always: bool = False,
        control: bool = True,
    ) -> int:
        """Remove `member` from `room` and publish `NAME left` if this call removed it (1).

        `control`: on the presence connections (the reaper); False for a process's own
        members, whose leaves queue with the joins."""
        head = envelope.header(envelope.LEFT, origin, member, skip)
        args = [self._publish, self.keys.channel(room), member, head, frames.left(name)]
        args.append("always" if always else "if-removed")
        keys = [self.keys.members(room)]
        client = self.link.control if control else self.link.redis
        run = self.link.run(lambda: self._leave(keys=keys, args=args, client=client), control)
        return int(await run)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
