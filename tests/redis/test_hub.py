"""RedisHub against a real redis-server: two hubs in one event loop act as two processes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from reference_server.cluster import RedisHub
from reference_server.cluster.link import POOL_SIZE
from tests.redis.helpers import FakeMember, eventually, started_hub, system

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


@contextlib.asynccontextmanager
async def hubs(
    url: str, count: int, **overrides: float | bool | str
) -> AsyncIterator[list[RedisHub]]:
    started = [await started_hub(url, **overrides) for _ in range(count)]
    try:
        yield started
    finally:
        for hub in started:
            await hub.stop()


@contextlib.asynccontextmanager
async def client(url: str) -> AsyncIterator[Redis]:
    redis = Redis.from_url(url)
    try:
        yield redis
    finally:
        await redis.aclose()


async def test_welcome_counts_members_of_every_process(redis_url: str) -> None:
    async with hubs(redis_url, 2) as (a, b):
        alice, bob, carol = (
            FakeMember("alice", "r"),
            FakeMember("bob", "r"),
            FakeMember("carol", "r"),
        )
        assert await a.join(alice) == 1
        assert await b.join(bob) == 2
        assert await a.join(carol) == 3
        assert bob.events[0] == {"type": "welcome", "room": "r", "online": 2}
        assert carol.events[0] == {"type": "welcome", "room": "r", "online": 3}
        await alice.wait_for(lambda ev: ev[1:] == [system("bob joined"), system("carol joined")])
        await bob.wait_system("carol joined")
        assert system("bob joined") not in bob.events  # join.announce: not to the joiner


async def test_messages_cross_processes_in_sender_order(redis_url: str) -> None:
    async with hubs(redis_url, 2) as (a, b):
        alice, bob = FakeMember("alice", "r"), FakeMember("bob", "r")
        await a.join(alice)
        await b.join(bob)
        frames = [
            f'{{"type":"message","user":"alice","text":"{i}","room":"r"}}' for i in range(200)
        ]
        for frame in frames:
            await a.publish("r", frame)
        expected = [str(i) for i in range(200)]
        for member in (alice, bob):  # the sender too, exactly once each, in order
            await member.wait_for(lambda ev, m=member: len(m.texts()) >= 200)
            assert member.texts() == expected


async def test_rooms_are_isolated_and_channels_follow_local_membership(redis_url: str) -> None:
    async with hubs(redis_url, 2) as (a, b), client(redis_url) as redis:
        x, y = FakeMember("x", "one"), FakeMember("y", "two")
        await a.join(x)
        await b.join(y)
        channel = a.keys.channel("one")
        assert (await redis.pubsub_numsub(channel))[0][1] == 1  # a only: b has nobody in "one"
        await b.publish("two", '{"type":"message","user":"y","text":"hi","room":"two"}')
        await y.wait_for(lambda ev: len(y.texts()) == 1)
        assert x.texts() == []
        await a.leave(x)

        async def unsubscribed() -> bool:
            return (await redis.pubsub_numsub(channel))[0][1] == 0

        for _ in range(200):
            if await unsubscribed():
                break
            await eventually(lambda: True, "tick", 1)
        assert await unsubscribed()
        assert channel not in a.link.subscribed()


async def test_one_publish_per_message(redis_url: str) -> None:
    async with hubs(redis_url, 2) as (a, b), client(redis_url) as redis:
        members = [FakeMember(f"m{i}", "r") for i in range(4)]
        for i, member in enumerate(members):
            await (a if i % 2 else b).join(member)
        before = await redis.info("commandstats")
        for i in range(50):
            await a.publish("r", f'{{"type":"message","user":"m1","text":"{i}","room":"r"}}')
        await members[0].wait_for(lambda ev: len(members[0].texts()) == 50)
        after = await redis.info("commandstats")
        assert after["cmdstat_publish"]["calls"] - before["cmdstat_publish"]["calls"] == 50


async def test_leave_is_announced_once_everywhere_and_uncounted(redis_url: str) -> None:
    async with hubs(redis_url, 2) as (a, b):
        alice, bob = FakeMember("alice", "r"), FakeMember("bob", "r")
        await a.join(alice)
        await b.join(bob)
        assert await b.leave(bob) is True
        assert await b.leave(bob) is False
        await alice.wait_system("bob left")
        assert await b.join(FakeMember("dave", "r")) == 2
        assert alice.systems().count("bob left") == 1
        assert all(e["type"] != "system" or "left" not in e["message"] for e in bob.events)


async def test_members_of_a_dead_process_are_reaped_once(redis_url: str) -> None:
    async with hubs(redis_url, 2) as (a, b):
        dead = await started_hub(redis_url)
        alice, bob = FakeMember("alice", "r"), FakeMember("bob", "r")
        await a.join(alice)
        await b.join(bob)
        await dead.join(FakeMember("zed", "r"))
        await dead.join(FakeMember("zoe", "other"))
        await alice.wait_system("zed joined")
        await dead.link.stop()  # dies: no leave, no unregister; its heartbeat key expires
        for member in (alice, bob):
            await member.wait_system("zed left")
        assert await a.join(FakeMember("carol", "r")) == 3  # zed no longer counted
        assert alice.systems().count("zed left") == 1 and bob.systems().count("zed left") == 1
        assert a.presence.reaped_members + b.presence.reaped_members == 2  # zed and zoe


async def test_a_stalled_process_reaped_by_mistake_comes_back(redis_url: str) -> None:
    async with hubs(redis_url, 2) as (a, b), client(redis_url) as redis:
        alice, bob = FakeMember("alice", "r"), FakeMember("bob", "r")
        await a.join(alice)
        await b.join(bob)
        # As if b had stalled past its TTL: its heartbeat key gone, and a reaper at work at
        # once (b's next beat may restore the key in between: then again, bounded).
        for _ in range(20):
            await redis.delete(b.keys.node(b.node_id, "alive"))
            if await a.presence.reap(b.node_id):
                break
        await alice.wait_system("bob left")
        # b noticed, re-registered and announced bob again
        await alice.wait_for(lambda ev: alice.systems().count("bob joined") == 2)
        assert alice.systems()[-2:] == ["bob left", "bob joined"]
        assert all(e["type"] != "system" for e in bob.events[1:])  # bob's view stayed steady
        await eventually(lambda: a.healthy and b.healthy, "both healthy again")
        assert await a.join(FakeMember("carol", "r")) == 3


async def test_sharded_pubsub(redis_url: str) -> None:
    async with client(redis_url) as redis:
        version = (await redis.info("server"))["redis_version"]
    if int(version.split(".")[0]) < 7:
        pytest.skip(f"sharded pub/sub needs Redis 7, this is {version}")
    async with hubs(redis_url, 2, sharded=True) as (a, b), client(redis_url) as redis:
        alice, bob = FakeMember("alice", "r"), FakeMember("bob", "r")
        await a.join(alice)
        assert await b.join(bob) == 2
        before = await redis.info("commandstats")
        for i in range(20):
            await b.publish("r", f'{{"type":"message","user":"bob","text":"{i}","room":"r"}}')
        await alice.wait_for(lambda ev: len(alice.texts()) == 20)
        assert alice.texts() == [str(i) for i in range(20)]
        after = await redis.info("commandstats")
        assert calls(after, "spublish") - calls(before, "spublish") == 20
        assert calls(after, "publish") == calls(before, "publish")  # no classic PUBLISH at all
        await b.leave(bob)
        await alice.wait_system("bob left")


def calls(stats: dict[str, dict[str, int]], command: str) -> int:
    return stats.get(f"cmdstat_{command}", {"calls": 0})["calls"]


async def test_hundreds_of_concurrent_senders_share_one_publishing_connection(
    redis_url: str,
) -> None:
    async with hubs(redis_url, 2) as (a, b), client(redis_url) as redis:
        receiver = FakeMember("rx", "r")
        await b.join(receiver)
        senders, per = 300, 5

        async def send(sender: int) -> None:
            for i in range(per):
                text = f"{sender}.{i}"
                await a.publish(
                    "r", f'{{"type":"message","user":"u{sender}","text":"{text}","room":"r"}}'
                )

        await asyncio.gather(*(send(s) for s in range(senders)))
        await receiver.wait_for(lambda ev: len(receiver.texts()) == senders * per)
        for sender in range(0, senders, 37):
            assert receiver.texts(f"u{sender}") == [f"{sender}.{i}" for i in range(per)]
        assert a.healthy
        # a: one subscriber, one publisher and a few pooled command connections
        clients = await redis.client_list()
        assert len(clients) <= 2 * (2 + POOL_SIZE) + 1


async def test_deployments_on_different_databases_do_not_mix(redis_url: str) -> None:
    other_db = redis_url.rsplit("/", 1)[0] + "/1"
    async with hubs(redis_url, 1) as (a,), hubs(other_db, 1) as (b,):
        alice, bob = FakeMember("alice", "r"), FakeMember("bob", "r")
        assert await a.join(alice) == 1
        assert await b.join(bob) == 1
        await b.publish("r", '{"type":"message","user":"bob","text":"db1","room":"r"}')
        await bob.wait_for(lambda ev: bob.texts() == ["db1"])
        await a.publish("r", '{"type":"message","user":"alice","text":"db0","room":"r"}')
        await alice.wait_for(lambda ev: alice.texts() == ["db0"])  # and not db1 before it
        assert bob.texts() == ["db1"] and alice.systems() == [] and bob.systems() == []


async def test_a_storm_of_joins_neither_degrades_the_link_nor_gets_a_process_reaped(
    redis_url: str,
) -> None:
    # Short TTL: a heartbeat stuck behind the joins would get the process reaped.
    async with hubs(redis_url, 2, node_ttl=1.0, heartbeat_interval=0.2) as (a, b):
        members = [FakeMember(f"u{i}", f"room{i % 10}") for i in range(3000)]
        counts = await asyncio.gather(*((a, b)[i % 2].join(m) for i, m in enumerate(members)))
        assert sorted(counts) == sorted(c for _ in range(10) for c in range(1, 301))
        for hub in (a, b):
            assert hub.healthy and hub.link.reconnects == 0, hub.health()
            assert hub.presence.reaped_members == 0
        assert await a.join(FakeMember("late", "room0")) == 301
        await asyncio.gather(*((a, b)[i % 2].leave(m) for i, m in enumerate(members)))
        assert await b.join(FakeMember("later", "room0")) == 2


async def test_a_process_reaped_after_it_came_back_notices_and_re_registers(
    redis_url: str,
) -> None:
    async with hubs(redis_url, 2) as (a, b), client(redis_url) as redis:
        alice, bob = FakeMember("alice", "r"), FakeMember("bob", "r")
        await a.join(alice)
        await b.join(bob)
        assert await a.presence.reap(b.node_id) == 0  # alive: not reaped
        # What a reaper does when its check raced with b's re-registration: b's heartbeat
        # key is fine, but its members were announced as left and it was forgotten.
        assert await a.presence.announce_left(f"{b.node_id}:1", "r", "bob", b.node_id, skip=True)
        await redis.delete(b.keys.node(b.node_id, "members"))
        await redis.srem(b.keys.nodes, b.node_id)
        await redis.set(b.keys.node(b.node_id, "reaped"), "1")
        await alice.wait_for(lambda ev: alice.systems().count("bob joined") == 2)
        assert alice.systems()[-2:] == ["bob left", "bob joined"]
        await eventually(lambda: b.healthy, "b re-registered")
        assert await a.join(FakeMember("carol", "r")) == 3
        assert await redis.sismember(b.keys.nodes, b.node_id)
