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

from redis.commands.core import AsyncScript

from reference_server import frames
from reference_server.cluster import envelope
from reference_server.cluster.envelope import Keys
from reference_server.cluster.link import ClusterConfig, Link, LinkDown

log = logging.getLogger("reference_server.cluster")
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

    def _ttl_ms(self) -> int:
        return int(self.config.node_ttl * 1000)

    async def register(self) -> tuple[bool, bool]:
        """Heartbeat now and join the node set; returns (was reaped, was known before)."""
        alive, reaped = (
            self.keys.node(self.node_id, "alive"),
            self.keys.node(self.node_id, "reaped"),
        )

        async def op() -> list[object]:
            pipe = self.link.redis.pipeline(transaction=False)
            pipe.getdel(reaped)
            pipe.sismember(self.keys.nodes, self.node_id)
            pipe.set(alive, "1", px=self._ttl_ms())
            pipe.sadd(self.keys.nodes, self.node_id)
            return list(await pipe.execute())

        was_reaped, known, _, _ = await self.link.run(op)
        return was_reaped is not None, bool(known)

    async def unregister(self) -> None:
        """Forget this node (a clean shutdown, after its members left)."""

        async def op() -> None:
            pipe = self.link.redis.pipeline(transaction=False)
            pipe.delete(
                self.keys.node(self.node_id, "alive"), self.keys.node(self.node_id, "members")
            )
            pipe.srem(self.keys.nodes, self.node_id)
            await pipe.execute()

        await self.link.run(op)

    async def heartbeat_loop(self) -> None:
        """Refresh the heartbeat key; if it had expired, resynchronise (we may have been reaped)."""
        alive = self.keys.node(self.node_id, "alive")
        while True:
            refreshed = await self.link.run(
                lambda: self.link.redis.set(alive, "1", px=self._ttl_ms(), xx=True)
            )
            if not refreshed:
                raise LinkDown("heartbeat key had expired: re-registering")
            await asyncio.sleep(self.config.heartbeat_interval)  # a period

    async def reap_loop(self) -> None:
        """Look for dead nodes every `reap_interval` and reap them."""
        while True:
            await asyncio.sleep(self.config.reap_interval)  # a period
            for node in await self.dead_nodes():
                await self.reap(node)

    async def dead_nodes(self) -> list[str]:
        """Registered nodes whose heartbeat key has expired."""
        nodes = [
            _text(n) for n in await self.link.run(lambda: self.link.redis.smembers(self.keys.nodes))
        ]
        others = [n for n in nodes if n != self.node_id]
        if not others:
            return []

        async def op() -> list[object]:
            pipe = self.link.redis.pipeline(transaction=False)
            for node in others:
                pipe.exists(self.keys.node(node, "alive"))
            return list(await pipe.execute())

        alive = await self.link.run(op)
        return [node for node, exists in zip(others, alive, strict=True) if not exists]

    async def reap(self, node: str) -> int:
        """Announce every member of dead `node` as left, once; returns how many this call did."""
        redis, lock = self.link.redis, self.keys.node(node, "reaping")
        if not await self.link.run(lambda: redis.set(lock, self.node_id, nx=True, px=REAP_LOCK_MS)):
            return 0  # another process is reaping it
        index = self.keys.node(node, "members")
        entries = await self.link.run(lambda: redis.hgetall(index))
        announced = 0
        for member, value in entries.items():
            room, name = envelope.parse_index_value(_text(value))
            # skip=True: if the node is only stalled, not dead, its own members never see this.
            announced += await self.announce_left(_text(member), room, name, node, skip=True)
        await self.link.run(lambda: self._forget(node))
        log.warning("reaped dead node %s: %d member(s) announced as left", node, announced)
        self.reaped_members += announced
        return announced

    async def _forget(self, node: str) -> None:
        pipe = self.link.redis.pipeline(transaction=False)
        pipe.delete(self.keys.node(node, "members"))
        pipe.srem(self.keys.nodes, node)
        pipe.set(self.keys.node(node, "reaped"), "1", ex=REAPED_MARKER_S)
        await pipe.execute()

    async def announce_left(
        self,
        member: str,
        room: str,
        name: str,
        origin: str,
        skip: bool = False,
        always: bool = False,
    ) -> int:
        """Remove `member` from `room` and publish `NAME left` if this call removed it (1)."""
        head = envelope.header(envelope.LEFT, origin, member, skip)
        args = [self._publish, self.keys.channel(room), member, head, frames.left(name)]
        args.append("always" if always else "if-removed")
        keys = [self.keys.members(room)]
        return int(await self.link.run(lambda: self._leave(keys=keys, args=args)))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
