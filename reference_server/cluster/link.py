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
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from reference_server.cluster.config import ClusterConfig
from reference_server.cluster.publisher import Publisher, PublisherDown
from reference_server.redact import redact_url, scrub

log = logging.getLogger("reference_server.cluster")
T = TypeVar("T")
POOL_SIZE = 16
REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError, PublisherDown)


class LinkDown(Exception):
    """Redis cannot be used right now; the caller falls back to this process's members."""


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
        # Scripts (joins, leaves) share a bounded pool; past POOL_SIZE at once they queue on a
        # semaphore, where waiting is not mistaken for a Redis failure (see run()). Presence
        # (heartbeat, reaper) has connections of its own, so that a storm of joins can never
        # delay a heartbeat past its TTL and get a live process reaped.
        self.redis = _client(config, POOL_SIZE)
        self.control = _client(config, 2)
        self._slots = asyncio.Semaphore(POOL_SIZE)
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
        for client in (self.redis, self.control):
            await client.aclose()
            await client.connection_pool.disconnect()

    def status(self, details: bool = False) -> dict[str, Any]:
        """For /healthz: `ok` or `degraded`; with `details`, why (the error names the host)."""
        status: dict[str, Any] = {
            "redis": "ok" if self.healthy else "degraded",
            "state": self.state,
            "reconnects": self.reconnects,
        }
        if details:
            status.update(url=self.safe_url, last_error=scrub(self.last_error))
        return status

    @property
    def safe_url(self) -> str:
        """The Redis URL without its password, for logs and /healthz."""
        return redact_url(self.config.url)

    def fail(self, reason: str, session: _Session | None = None) -> None:
        """Declare the current session dead (now: no more deliveries from it)."""
        current = self._session
        if current is None or (session is not None and session is not current):
            return  # an error from an older session: the current one is not concerned
        log.log(logging.INFO if self._stopping else logging.WARNING, "redis link down: %s", reason)
        self._session, self.healthy, self.state, self.last_error = None, False, "degraded", reason
        current.failed.set()

    async def run(self, op: Callable[[], Awaitable[T]], control: bool = False) -> T:
        """Run one Redis operation of this session; LinkDown (and a failed link) on error.

        `op` gets `op_timeout` once it runs; the wait for a free slot before it is not
        bounded (a storm of joins queues, it is not an outage). `control`: a presence
        operation, on the control client, which never waits for a slot.
        """
        if control:
            return await self._run(op)
        async with self._slots:
            return await self._run(op)

    async def _run(self, op: Callable[[], Awaitable[T]]) -> T:
        session = self._session
        if session is None:
            raise LinkDown(self.last_error or "not connected")
        try:
            async with asyncio.timeout(self.config.op_timeout):
                return await op()
        except REDIS_ERRORS as exc:
            self.fail(f"{type(exc).__name__}: {exc}", session)
            raise LinkDown(str(exc)) from exc

    def down_event(self) -> asyncio.Event:
        """An event set when the current session fails; LinkDown if there is none."""
        if self._session is None:
            raise LinkDown(self.last_error or "not connected")
        return self._session.failed

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
        """Subscribe to `channel` unless already done in this session; wait for Redis's ack.

        No timeout of its own: acknowledgements come in order on the subscriber connection,
        whose liveness the keepalive checks, and a failed session fails every waiting ack.
        """
        session = self._session
        if session is None:
            raise LinkDown(self.last_error or "not connected")
        future = session.subscribed.get(channel)
        if future is None:
            future = session.subscribed[channel] = session.expect_ack(channel)
            session.outbox.put_nowait((self._subscribe, channel))
        await asyncio.shield(future)

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
                log.warning("redis unreachable (%s), retrying: %s", self.safe_url, self.last_error)
            self.healthy, self.state = False, "degraded"
            self._attempted.set()
            if time.monotonic() - started > 2 * self.config.backoff_max:
                delay = self.config.backoff_initial  # it was up for a while: retry fast
            await asyncio.sleep(delay)  # backoff between attempts, not synchronisation
            delay = min(delay * 2, self.config.backoff_max)
            self.reconnects += 1

    async def _run_session(self) -> None:
        # Pooled command connections may belong to a Redis that is gone: drop them all.
        for client in (self.redis, self.control):
            await client.connection_pool.disconnect()
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
                log.info("redis link up (%s)", self.safe_url)
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


def _client(config: ClusterConfig, connections: int) -> Redis:
    """A client whose commands fail fast (no retries: the supervisor reconnects)."""
    pool = BlockingConnectionPool.from_url(
        config.url,
        max_connections=connections,
        timeout=config.op_timeout,
        socket_timeout=config.op_timeout,
        socket_connect_timeout=config.op_timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
        protocol=2,  # RESP2: pub/sub replies are plain arrays, on every Redis version
    )
    return Redis(connection_pool=pool)


async def _coro(loop: Callable[[], Awaitable[None]]) -> None:
    await loop()
