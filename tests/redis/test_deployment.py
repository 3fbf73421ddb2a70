"""End to end: `chatbench serve` processes on different ports sharing one redis-server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection

from reference_server.cluster import ClusterConfig
from tests.redis.deployment import CLI, ServeProcess
from tests.redis.helpers import FACTOR
from tests.redis_server import RedisServer
from tests.reference_server.clients import join as join_room
from tests.reference_server.clients import recv, recv_until, say, system

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

Join = Callable[[str, str, str], Awaitable[ClientConnection]]
REAP_BOUND = ClusterConfig(url="redis://x").reap_bound  # the documented default, 5 s


@contextlib.asynccontextmanager
async def deployment(redis_url: str, count: int, *extra: str) -> AsyncIterator[list[ServeProcess]]:
    processes = [ServeProcess(redis_url, *extra) for _ in range(count)]
    try:
        await asyncio.gather(*(p.start() for p in processes))
        yield processes
    finally:
        await asyncio.gather(*(p.stop() for p in processes))


@pytest.fixture
async def join() -> AsyncIterator[Callable[[str, str, str], Awaitable[ClientConnection]]]:
    """`await join(url, room, name)`: a client that has its welcome; closed after the test."""
    opened: list[ClientConnection] = []

    async def connect(url: str, room: str, name: str) -> ClientConnection:
        # A short close timeout: a client that left frames unread cannot see the close frame.
        ws = await join_room(url, room, name, close_timeout=1)
        opened.append(ws)
        return ws

    yield connect
    for ws in opened:
        await ws.close()


def texts_by(events: list[dict[str, Any]], user: str) -> list[str]:
    return [e["text"] for e in events if e["type"] == "message" and e["user"] == user]


async def collect(ws: Any, count: int, user: str | None = None) -> list[dict[str, Any]]:
    """Events until `count` chat messages (from `user`, if given) have arrived."""
    events: list[dict[str, Any]] = []

    def counted(e: dict[str, Any]) -> bool:
        return e["type"] == "message" and (user is None or e["user"] == user)

    while sum(map(counted, events)) < count:
        events.append(await recv(ws, 10 * FACTOR))
    return events


async def test_two_processes_act_as_one_server(redis_url: str, join: Join) -> None:
    async with deployment(redis_url, 2) as (p1, p2):
        alice = await join(p1.url, "lobby", "alice")
        bob = await join(p2.url, "lobby", "bob")
        assert (alice.welcome["online"], bob.welcome["online"]) == (1, 2)
        assert await recv(alice) == {"type": "system", "message": "bob joined"}
        count = 100
        sends = [
            say(ws, f"{name}-{i}") for i in range(count) for ws, name in ((alice, "a"), (bob, "b"))
        ]
        received = asyncio.gather(collect(alice, 2 * count), collect(bob, 2 * count))
        await asyncio.gather(*sends)
        for events in await received:  # message.order across processes, sender included
            assert texts_by(events, "alice") == [f"a-{i}" for i in range(count)]
            assert texts_by(events, "bob") == [f"b-{i}" for i in range(count)]
        carol = await join(p1.url, "lobby", "carol")
        assert carol.welcome["online"] == 3  # global presence
        await bob.close()
        for ws in (alice, carol):
            await recv_until(ws, system("bob left"))
        dave = await join(p2.url, "lobby", "dave")
        assert dave.welcome["online"] == 3
        other = await join(p2.url, "Lobby", "eve")  # room.exact-name holds across processes
        assert other.welcome["online"] == 1


@pytest.mark.slow
async def test_members_of_a_killed_process_are_announced_left(redis_url: str, join: Join) -> None:
    async with deployment(redis_url, 3) as (p1, p2, p3):
        alice = await join(p1.url, "r", "alice")
        frank = await join(p3.url, "r", "frank")
        bob = await join(p2.url, "r", "bob")
        await join(p2.url, "r", "bea")
        for ws in (alice, frank):
            await recv_until(ws, system("bea joined"))
        loop = asyncio.get_running_loop()
        killed_at = loop.time()
        p2.kill()
        deadline = REAP_BOUND * FACTOR + 2.0  # the documented bound, plus scheduling slack
        for ws in (alice, frank):
            seen = await _lefts(ws, {"bob left", "bea left"}, deadline)
            assert sorted(seen) == ["bea left", "bob left"]  # once each
        assert loop.time() - killed_at < deadline
        carol = await join(p1.url, "r", "carol")
        assert carol.welcome["online"] == 3  # alice, frank, carol: no zombies
        await bob.wait_closed()  # its TCP connection died with its process


async def _lefts(ws: Any, expected: set[str], timeout: float) -> list[str]:
    seen: list[str] = []
    async with asyncio.timeout(timeout):
        while set(seen) != expected:
            event = await recv(ws, timeout)
            if event["type"] == "system" and event["message"].endswith(" left"):
                seen.append(event["message"])
    return seen


@pytest.mark.slow
async def test_redis_restart_mid_conversation(
    redis_server: RedisServer, redis_url: str, join: Join
) -> None:
    async with deployment(redis_url, 2) as (p1, p2):
        alice = await join(p1.url, "r", "alice")
        bob = await join(p2.url, "r", "bob")
        await recv_until(alice, system("bob joined"))
        await say(alice, "before")
        await recv_until(bob, lambda e: e.get("text") == "before")

        redis_server.stop()
        for process in (p1, p2):
            health = await process.wait_health("degraded", 10 * FACTOR)
            assert health["redis"]["redis"] == "degraded"
        await say(alice, "during")  # delivered on p1 only; no process crashes or drops anyone
        await recv_until(alice, lambda e: e.get("text") == "during")

        redis_server.start()
        resumed_by = asyncio.get_running_loop().time() + 6 * FACTOR  # "a few seconds"
        for process in (p1, p2):
            await process.wait_health("ok", 10 * FACTOR)
        # fan-out across processes resumes: both clients are still connected and hear each other
        await say(bob, "after")
        await recv_until(alice, lambda e: e.get("text") == "after", 10 * FACTOR)
        assert asyncio.get_running_loop().time() < resumed_by
        for i in range(20):
            await say(alice, f"x{i}")
        seen = await collect(bob, 20, "alice")
        # in order, and "during" never reached p2: messages of the outage are not replayed
        assert texts_by(seen, "alice") == [f"x{i}" for i in range(20)]
        carol = await join(p2.url, "r", "carol")
        assert carol.welcome["online"] == 3  # presence was re-registered in the empty Redis


@pytest.mark.slow
async def test_workers_share_one_port_and_one_redis(redis_url: str, join: Join) -> None:
    process = ServeProcess(redis_url, "--workers", "2")
    redis = Redis.from_url(redis_url)
    try:
        await process.start()
        async with asyncio.timeout(20 * FACTOR):  # both workers registered as nodes
            while await redis.scard("chatbench:nodes") < 2:
                await asyncio.sleep(0.05)
        clients: list[ClientConnection] = []
        workers: set[str] = set()
        while len(workers) < 2 and len(clients) < 100:  # until the kernel gave both some
            clients.append(await join(process.url, "w", f"u{len(clients)}"))
            members = await redis.hkeys("chatbench:{room:w}:members")
            workers = {m.decode().rsplit(":", 1)[0] for m in members}
        assert len(workers) == 2, "every connection went to the same worker"
        assert [ws.welcome["online"] for ws in clients] == list(range(1, len(clients) + 1))
        await say(clients[0], "hello all")
        for ws in clients:
            await recv_until(ws, lambda e: e.get("text") == "hello all")
    finally:
        await redis.aclose()
        code = await process.stop()
    assert code == 0, process.log()  # SIGINT: every worker shut down cleanly


@pytest.mark.slow
def test_check_passes_against_two_processes(redis_server: RedisServer, redis_url: str) -> None:
    async def run() -> tuple[int, str]:
        async with deployment(redis_url, 2) as (p1, p2):
            proc = await asyncio.create_subprocess_exec(
                *CLI,
                "check",
                p1.url,
                p2.url,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), 200 * FACTOR)
            return proc.returncode or 0, out.decode() + err.decode()

    code, output = asyncio.run(run())
    assert code == 0, output


@pytest.mark.slow
async def test_a_process_killed_while_redis_restarts_empty_is_announced_left(
    redis_server: RedisServer, redis_url: str, join: Join
) -> None:
    # issue 14, point 5: Redis loses every key and p2 dies meanwhile; p1 still knows bob
    async with deployment(redis_url, 2) as (p1, p2):
        alice = await join(p1.url, "r", "alice")
        await join(p2.url, "r", "bob")
        await recv_until(alice, system("bob joined"))
        redis_server.stop()
        await p1.wait_health("degraded", 10 * FACTOR)
        p2.kill()
        redis_server.start()  # empty
        await p1.wait_health("ok", 20 * FACTOR)
        # within the reap bound of p1 coming back (it waits that long for p2 to return)
        seen = await _lefts(alice, {"bob left"}, REAP_BOUND * FACTOR + 5.0)
        assert seen == ["bob left"]
        carol = await join(p1.url, "r", "carol")
        assert carol.welcome["online"] == 2  # alice and carol: bob is not counted
