"""The server's shared state: settings, hub, counters and the open connections."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from reference_server import descriptors, redact
from reference_server.handshake import Doorway, HandshakeLimits
from reference_server.hub import Hub, LocalHub
from reference_server.member import GOING_AWAY, Member
from reference_server.settings import Settings
from reference_server.stats import Stats

log = logging.getLogger("reference_server")


class ChatState:
    """What every connection shares. `close_all` is the graceful-shutdown path (1001)."""

    def __init__(self, settings: Settings, hub: Hub | None = None) -> None:
        self.settings = settings
        redact.protect(settings.redis_url)  # before anything can log it
        self.hub: Hub = hub if hub is not None else default_hub(settings)
        self.stats = Stats()
        self.doorway = Doorway(
            HandshakeLimits(
                settings.handshake_timeout,
                settings.max_request_line,
                settings.max_header_bytes,
                settings.max_handshakes,
            )
        )
        self.members: set[Member] = set()
        self._seated: set[Member] = set()  # admitted and not yet left: what max_connections counts
        self.closing = False
        self.descriptors = descriptors.Descriptors(0, 0)
        self.member_limit = settings.max_connections
        """Members allowed at once (0: no limit); at start, also bounded by descriptors."""
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        """At server start: raise the descriptor limit and size the member limit from it."""
        self.descriptors = fds = descriptors.raise_limit()
        s = self.settings
        self.member_limit = descriptors.member_limit(fds.limit, s.max_handshakes, s.max_connections)
        raised = f" (soft limit raised from {fds.before})" if fds.before != fds.limit else ""
        level = logging.WARNING if self.member_limit < 1000 else logging.INFO
        log.log(
            level,
            "%d file descriptors%s: up to %d members at once, %d connections in handshake",
            fds.limit,
            raised,
            self.member_limit,
            s.max_handshakes,
        )

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
        """True when the member limit (max_connections, or the descriptors') is reached."""
        limit = self.member_limit
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


def origin_allowed(
    origin: str | None, host: str | None, allowed: tuple[str, ...], same_host: bool = False
) -> bool:
    """`origin.foreign`: no Origin, a configured public origin, or, when opted in with
    `same_host`, an http(s) origin naming the request's Host (which DNS rebinding forges)."""
    if origin is None or "*" in allowed:
        return True
    key = origin_key(origin)
    if key is None:
        return False  # `null`, ftp://, file://: never a page of ours
    if key in {origin_key(a) for a in allowed}:
        return True
    return same_host and host is not None and key == origin_key(f"{key[0]}://{host}")


def origin_key(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) origin, default ports filled in; None otherwise."""
    try:
        parts = urlsplit(origin.strip().rstrip("/").lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)
