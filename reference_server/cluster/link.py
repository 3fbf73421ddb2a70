"""The process's connections to Redis, supervised: commands, one subscriber, reconnection.

A *session* is one life of the subscriber connection. It runs a reader (pub/sub messages and
subscription acknowledgements), a writer (SUBSCRIBE/UNSUBSCRIBE/PING in call order), a keepalive
(a subscriber silent for `node_ttl` is dead, even if TCP does not say so) and the loops the hub
adds (heartbeat, reaper). Any Redis error anywhere fails the session: the link is *degraded*
until the supervisor has reconnected with exponential backoff and the hub has resynchronised
(re-registered presence, resubscribed its rooms). Nothing here raises into a client connection
except `LinkDown`, which callers turn into local delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from reference_server.cluster.publisher import Publisher, PublisherDown

log = logging.getLogger("reference_server.cluster")
T = TypeVar("T")
POOL_SIZE = 16
REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError, PublisherDown)


class LinkDown(Exception):
    """Redis cannot be used right now; the caller falls back to this process's members."""


@dataclass(frozen=True)
class ClusterConfig:
    """How a process joins the cluster; timings in seconds (docs/scaling.md)."""

    url: str
    prefix: str = "chatbench"
    sharded: bool = False
    """Use sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7+) instead of PUBLISH/SUBSCRIBE."""
    heartbeat_interval: float = 1.0
    node_ttl: float = 3.0
    """A process whose heartbeat key is older than this is dead; its members are reaped."""
    reap_interval: float = 1.0
    op_timeout: float = 2.0
    """Longest wait for one Redis command or acknowledgement before the link is declared down."""
    backoff_initial: float = 0.1
    backoff_max: float = 2.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"redis URL must start with redis://, rediss:// or unix://: {self.url}"
            )
        if not 0 < self.heartbeat_interval < self.node_ttl:
            raise ValueError("heartbeat interval must be positive and below the node TTL")
        for name in ("reap_interval", "op_timeout", "backoff_initial", "backoff_max"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    @property
    def reap_bound(self) -> float:
        """Longest time from a process's death to its members being announced as left: its
        heartbeat key expires within `node_ttl`, a reaper looks every `reap_interval`, and
        reaping itself takes a few round trips (one second of slack)."""
        return self.node_ttl + self.reap_interval + 1.0

    @property
    def commands(self) -> tuple[str, str, str]:
        """(publish, subscribe, unsubscribe) commands of the chosen pub/sub flavour."""
        if self.sharded:
            return "SPUBLISH", "SSUBSCRIBE", "SUNSUBSCRIBE"
        return "PUBLISH", "SUBSCRIBE", "UNSUBSCRIBE"


class _Session:
    """One subscriber connection and the state that dies with it."""

    def __init__(self, conn: AbstractConnection, publisher: Publisher) -> None:
        self.conn = conn
        self.publisher = publisher
        self.outbox: asyncio.Queue[tuple[str, ...]] = asyncio.Queue()
        # Redis acknowledges each (UN)SUBSCRIBE once per channel, in order: one FIFO per channel.
        self.acks: dict[str, deque[asyncio.Future[None]]] = {}
        self.subscribed: dict[str, asyncio.Future[None]] = {}
        self.failed = asyncio.Event()
        self.last_seen = time.monotonic()

    def expect_ack(self, channel: str) -> asyncio.Future[None]:
        future = asyncio.get_running_loop().create_future()
        self.acks.setdefault(channel, deque()).append(future)
        return future

    def ack(self, channel: str) -> None:
        waiting = self.acks.get(channel)
        if waiting:
            future = waiting.popleft()
            if not waiting:
                del self.acks[channel]
            if not future.done():
                future.set_result(None)

    def close(self) -> None:
        self.publisher.close()
        for waiting in self.acks.values():
            for future in waiting:
                if not future.done():
                    future.set_exception(LinkDown("subscriber connection lost"))
                    future.exception()  # retrieved: nobody may be waiting any more
        self.acks.clear()


class Link:
    """Redis connections of one process, with health, subscriptions and reconnection."""

    def __init__(
        self,
        config: ClusterConfig,
        on_message: Callable[[str, bytes], None],
        on_connect: Callable[[], Awaitable[None]],
        session_loops: list[Callable[[], Awaitable[None]]],
    ) -> None:
        self.config = config
        # Commands other than PUBLISH (scripts, heartbeat, reaper) share a bounded pool; callers
        # wait for a free connection rather than open one per concurrent join.
        pool = BlockingConnectionPool.from_url(
            config.url,
            max_connections=POOL_SIZE,
            timeout=config.op_timeout,
            socket_timeout=config.op_timeout,
            socket_connect_timeout=config.op_timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            protocol=2,  # RESP2: pub/sub replies are plain arrays, on every Redis version
        )
        self.redis: Redis = Redis(connection_pool=pool)
        self.healthy = False
        self.state = "starting"
        self.last_error = ""
        self.reconnects = 0
        self._on_message = on_message
        self._on_connect = on_connect
        self._session_loops = session_loops
        self._session: _Session | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._attempted = asyncio.Event()
        self._stopping = False
        self._publish, self._subscribe, self._unsubscribe = config.commands

    async def start(self, wait: float) -> None:
        """Connect in the background; wait up to `wait` s for the first attempt to finish."""
        self._supervisor = asyncio.create_task(self._supervise(), name="redis-link")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._attempted.wait()

    async def stop(self) -> None:
        """Close every connection; the link stays down."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        self.healthy, self.state = False, "stopped"
        await self.redis.aclose()
        await self.redis.connection_pool.disconnect()

    def status(self) -> dict[str, Any]:
        """For /healthz: `ok` or `degraded`, and why."""
        return {
            "redis": "ok" if self.healthy else "degraded",
            "state": self.state,
            "last_error": self.last_error,
            "reconnects": self.reconnects,
        }

    def fail(self, reason: str, session: _Session | None = None) -> None:
        """Declare the current session dead (now: no more deliveries from it)."""
        current = self._session
        if current is None or (session is not None and session is not current):
            return  # an error from an older session: the current one is not concerned
        log.log(logging.INFO if self._stopping else logging.WARNING, "redis link down: %s", reason)
        self._session, self.healthy, self.state, self.last_error = None, False, "degraded", reason
        current.failed.set()

    async def run(self, op: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis operation of this session; LinkDown (and a failed link) on error."""
        session = self._session
        if session is None:
            raise LinkDown(self.last_error or "not connected")
        try:
            async with asyncio.timeout(self.config.op_timeout):
                return await op()
        except REDIS_ERRORS as exc:
            self.fail(f"{type(exc).__name__}: {exc}", session)
            raise LinkDown(str(exc)) from exc

    async def publish(self, channel: str, payload: str) -> None:
        """One PUBLISH (or SPUBLISH); LinkDown when Redis is not usable."""
        session = self._session
        if not self.healthy or session is None:
            raise LinkDown(self.last_error)
        try:
            await session.publisher.publish(channel, payload)
        except PublisherDown as exc:
            self.fail(str(exc), session)
            raise LinkDown(str(exc)) from exc

    async def ensure_subscribed(self, channel: str) -> None:
        """Subscribe to `channel` unless already done in this session; wait for Redis's ack."""
        session = self._session
        if session is None:
            raise LinkDown(self.last_error or "not connected")
        future = session.subscribed.get(channel)
        if future is None:
            future = session.subscribed[channel] = session.expect_ack(channel)
            session.outbox.put_nowait((self._subscribe, channel))
        try:
            async with asyncio.timeout(self.config.op_timeout):
                await asyncio.shield(future)
        except TimeoutError:
            self.fail(f"no acknowledgement of {self._subscribe} {channel}", session)
            raise LinkDown("subscribe timed out") from None

    def unsubscribe(self, channel: str) -> None:
        """Stop receiving `channel` (the last local member left). Never waits."""
        session = self._session
        if session is not None and session.subscribed.pop(channel, None) is not None:
            session.expect_ack(channel)
            session.outbox.put_nowait((self._unsubscribe, channel))

    def subscribed(self) -> set[str]:
        """Channels subscribed (or being subscribed) in the current session."""
        return set(self._session.subscribed) if self._session else set()

    async def _supervise(self) -> None:
        delay = self.config.backoff_initial
        while True:
            started = time.monotonic()
            try:
                await self._run_session()
            except (*REDIS_ERRORS, LinkDown) as exc:
                self.last_error = self.last_error or f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a bug must not end reconnection: log and go on
                log.exception("redis link session failed")
                self.last_error = f"{type(exc).__name__}: {exc}"
            if self.state != "degraded":  # once per outage, not once per attempt
                log.warning(
                    "redis unreachable (%s), retrying: %s", self.config.url, self.last_error
                )
            self.healthy, self.state = False, "degraded"
            self._attempted.set()
            if time.monotonic() - started > 2 * self.config.backoff_max:
                delay = self.config.backoff_initial  # it was up for a while: retry fast
            await asyncio.sleep(delay)  # backoff between attempts, not synchronisation
            delay = min(delay * 2, self.config.backoff_max)
            self.reconnects += 1

    async def _run_session(self) -> None:
        # Pooled command connections may belong to a Redis that is gone: drop them all.
        await self.redis.connection_pool.disconnect()
        pool = self.redis.connection_pool
        conn = pool.make_connection()  # type: ignore[no-untyped-call]
        publisher = Publisher(pool.make_connection(), self._publish)  # type: ignore[no-untyped-call]
        session = _Session(conn, publisher)
        tasks: list[asyncio.Task[None]] = []
        try:
            async with asyncio.timeout(self.config.op_timeout):
                await conn.connect()
                await publisher.conn.connect()  # type: ignore[no-untyped-call]
                await self.redis.ping()
            self._session, self.last_error = session, ""
            for loop in (self._read, self._write, self._keepalive):
                tasks.append(asyncio.create_task(loop(session)))
            tasks.append(asyncio.create_task(publisher.run()))
            await self._until_failed(session, tasks, self._connect_step(session))
            if self.healthy and self._session is session:
                self._attempted.set()
                log.info("redis link up (%s)", self.config.url)
                tasks += [asyncio.create_task(_coro(loop)) for loop in self._session_loops]
                await self._until_failed(session, tasks, session.failed.wait())
        finally:
            self.fail("session ended", session)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            session.close()
            await conn.disconnect(nowait=True)
            await publisher.conn.disconnect(nowait=True)

    async def _connect_step(self, session: _Session) -> None:
        await self._on_connect()
        # No await between the hub's last resync check and this: nothing can change unseen.
        if self._session is session:
            self.healthy, self.state = True, "ok"

    async def _until_failed(
        self, session: _Session, tasks: list[asyncio.Task[None]], step: Awaitable[Any]
    ) -> None:
        """Run `step` while the session's tasks run; the first to fail fails the session."""
        main = asyncio.ensure_future(step)
        try:
            done, _ = await asyncio.wait([main, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not main and not task.cancelled() and task.exception() is not None:
                    exc = task.exception()
                    self.fail(f"{type(exc).__name__}: {exc}", session)
            if main.done():
                main.result()  # raises what the step raised
            else:
                self.fail("session task ended", session)
        finally:
            main.cancel()
            await asyncio.gather(main, return_exceptions=True)

    async def _read(self, session: _Session) -> None:
        conn = session.conn
        while True:
            response = await conn.read_response(timeout=math.inf)
            session.last_seen = time.monotonic()
            if not isinstance(response, list) or len(response) < 3:
                continue  # PONG outside subscribed mode
            kind = response[0]
            if self._session is not session:
                return  # failed: deliver nothing more from this session
            if kind in (b"message", b"smessage"):
                self._on_message(response[1].decode(), response[2])
            elif kind in (b"subscribe", b"unsubscribe", b"ssubscribe", b"sunsubscribe"):
                session.ack(response[1].decode())

    async def _write(self, session: _Session) -> None:
        conn = session.conn
        while True:
            command = await session.outbox.get()
            if not conn.is_connected:  # send_command would silently reconnect, unsubscribed
                raise LinkDown("subscriber connection lost")
            await conn.send_command(*command)

    async def _keepalive(self, session: _Session) -> None:
        interval, limit = self.config.heartbeat_interval, self.config.node_ttl
        while True:
            await asyncio.sleep(interval)  # a period, not synchronisation
            if time.monotonic() - session.last_seen > limit:
                raise LinkDown(f"subscriber silent for more than {limit} s")
            session.outbox.put_nowait(("PING",))


async def _coro(loop: Callable[[], Awaitable[None]]) -> None:
    await loop()
