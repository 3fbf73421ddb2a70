"""Issue 14, points 5 and 11: joins and leaves across a frozen Redis and a double failure.

Two hubs in one event loop act as two processes against a real redis-server. A freeze is
SIGSTOP for a few seconds (longer than the node TTL, so both hubs degrade and every heartbeat
key expires); a double failure is Redis restarted empty while one process has died.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from reference_server.cluster import RedisHub
from tests.redis.helpers import FACTOR, FakeMember, eventually, started_hub
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.slow]

FREEZE = 2.0
"""Seconds of SIGSTOP: twice the test hubs' node TTL."""


async def _frozen(redis: RedisServer, hubs: list[RedisHub]) -> None:
    """Freeze Redis until every hub has noticed (degraded), for at least FREEZE seconds."""
    redis.freeze()
    try:
        await eventually(lambda: not any(h.healthy for h in hubs), "all degraded", 10 * FACTOR)
        await asyncio.sleep(FREEZE)  # the outage's length is the test's subject, not a sync
    except BaseException:
        redis.thaw()
        raise


def _hold_resync(hub: RedisHub, until: Callable[[], bool], then: float) -> None:
    """Make `hub`'s next resynchronisation wait until `until()`, then `then` seconds more:
    the other process replays its outage first (the interleaving that lost an announcement,
    issue 14, point 11), and its reaper runs a few times before this one is back."""
    resync = hub._resync

    async def held() -> None:
        await eventually(until, "the other hub resynced first", 20 * FACTOR)
        await asyncio.sleep(then)  # a process slow to come back is the subject
        await resync()

    hub.link._on_connect = held


async def _pair(url: str) -> tuple[RedisHub, RedisHub, FakeMember, FakeMember, FakeMember]:
    a, b = await started_hub(url), await started_hub(url)
    alice, carol, bob = FakeMember("alice", "r"), FakeMember("carol", "r"), FakeMember("bob", "r")
    await a.join(alice)
    await a.join(carol)
    await b.join(bob)
    await alice.wait_system("bob joined")
    return a, b, alice, carol, bob


@pytest.mark.parametrize("first", ["a", "b"])
async def test_no_announcement_is_lost_across_a_freeze(
    redis_server: RedisServer, redis_url: str, first: str
) -> None:
    # carol leaves on a, dave joins on b while Redis is frozen; whichever hub replays its
    # outage first, the other one still hears of it
    a, b, alice, carol, bob = await _pair(redis_url)
    try:
        await _frozen(redis_server, [a, b])
        await a.leave(carol)
        dave = FakeMember("dave", "r")
        await b.join(dave)
        slow, fast = (b, a) if first == "a" else (a, b)
        # back later than 2 reap intervals, within the node TTL: not taken for dead
        _hold_resync(slow, lambda: fast.healthy, 2.5 * slow.config.reap_interval)
        redis_server.thaw()
        await bob.wait_system("carol left")
        await alice.wait_system("dave joined")
        await eventually(lambda: a.healthy and b.healthy, "both back", 20 * FACTOR)
        newcomer = FakeMember("erin", "r")
        assert await a.join(newcomer) == 4  # alice, bob, dave, erin
        for member in (alice, bob, dave):
            await member.wait_system("erin joined")
            assert member.systems().count("carol left") <= 1
            assert member.systems().count("dave joined") <= 1
            assert "bob left" not in member.systems() and "alice left" not in member.systems()
    finally:
        redis_server.thaw()
        await a.stop()
        await b.stop()


async def _die(hub: RedisHub) -> None:
    """The process is gone: no leave, no unregister, its connections just end."""
    await hub.link.stop()


async def test_a_process_that_dies_while_redis_restarts_empty_is_reaped(
    redis_server: RedisServer, redis_url: str
) -> None:
    # point 5: the double failure. Redis loses every key, and b dies meanwhile: nobody in
    # Redis remembers bob, but a does, and announces him as left once b has not come back.
    a, b, alice, carol, _ = await _pair(redis_url)
    try:
        redis_server.stop()
        await eventually(lambda: not a.healthy, "a degraded")
        await _die(b)
        redis_server.start()  # empty
        await alice.wait_system("bob left")
        assert alice.systems().count("bob left") == 1
        assert carol.systems().count("bob left") == 1
        assert await a.join(FakeMember("erin", "r")) == 3  # alice, carol, erin: no ghost
    finally:
        await a.stop()
        await b.stop()


async def test_redis_restarting_empty_announces_nobody_who_is_still_there(
    redis_server: RedisServer, redis_url: str
) -> None:
    # the single failure: both processes live through the empty restart; no left, no
    # second joined, and the counts come back
    a, b, alice, carol, bob = await _pair(redis_url)
    try:
        redis_server.stop()
        await eventually(lambda: not a.healthy and not b.healthy, "both degraded")
        redis_server.start()
        await eventually(lambda: a.healthy and b.healthy, "both back", 20 * FACTOR)
        await _past_reap_bound(a)
        erin = FakeMember("erin", "r")
        assert await b.join(erin) == 4
        await alice.wait_system("erin joined")
        assert alice.systems() == ["carol joined", "bob joined", "erin joined"]
        assert carol.systems() == ["bob joined", "erin joined"]
        assert bob.systems() == ["erin joined"]
    finally:
        await a.stop()
        await b.stop()


async def _past_reap_bound(hub: RedisHub) -> None:
    """Let the grace after an empty restart pass: then nothing more is announced."""
    await asyncio.sleep(hub.config.reap_bound)  # a duration the test is about, bounded
