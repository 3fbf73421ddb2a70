"""The server's shared state: settings, hub, counters and the open connections."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from reference_server.hub import Hub, LocalHub
from reference_server.member import GOING_AWAY, Member
from reference_server.settings import Settings
from reference_server.stats import Stats


class ChatState:
    """What every connection shares. `close_all` is the graceful-shutdown path (1001)."""

    def __init__(self, settings: Settings, hub: Hub | None = None) -> None:
        self.settings = settings
        self.hub: Hub = hub if hub is not None else default_hub(settings)
        self.stats = Stats()
        self.members: set[Member] = set()
        self._seated: set[Member] = set()  # admitted and not yet left: what max_connections counts
        self.closing = False
        self._idle = asyncio.Event()
        self._idle.set()

    def admit(self, member: Member) -> None:
        """Count `member` as open until `release`; closed at once if the server is closing."""
        self.members.add(member)
        self._seated.add(member)
        self._idle.clear()
        self.stats.connections_total += 1
        if self.closing:
            member.request_close(GOING_AWAY, "server shutting down")

    def vacate(self, member: Member) -> None:
        """`member` is leaving its room: its place under max_connections is free again.

        Called before `left` is announced, so a client that saw `left` and connects again is
        not refused while the old connection is still closing.
        """
        self._seated.discard(member)

    def release(self, member: Member) -> None:
        """`member`'s connection has ended."""
        self.vacate(member)
        self.members.discard(member)
        if not self.members:
            self._idle.set()

    def at_limit(self) -> bool:
        """True when max_connections is set and reached."""
        limit = self.settings.max_connections
        return bool(limit) and len(self._seated) >= limit

    async def close_all(self, timeout: float) -> bool:
        """Close every connection with 1001 (shutdown.going-away); True if all ended in time."""
        self.closing = True
        for member in list(self.members):
            member.request_close(GOING_AWAY, "server shutting down")
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True


def default_hub(settings: Settings) -> Hub:
    """A RedisHub when `settings.redis_url` is set (docs/scaling.md), else a LocalHub."""
    if not settings.redis_url:
        return LocalHub()
    from reference_server.cluster import ClusterConfig, RedisHub

    return RedisHub(ClusterConfig(url=settings.redis_url, sharded=settings.redis_sharded))


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """`origin.foreign`: no Origin, the server's own host, or an allow-listed origin."""
    if origin is None or "*" in allowed:
        return True
    if origin.rstrip("/").lower() in {a.rstrip("/").lower() for a in allowed}:
        return True
    netloc = urlsplit(origin).netloc.lower()
    return bool(netloc) and host is not None and netloc == host.lower()
