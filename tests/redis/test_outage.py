"""Redis outages: no crash, degraded local delivery, reconnection and resynchronisation."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from reference_server.cluster import RedisHub
from tests.redis.helpers import FakeMember, eventually, fast_config, started_hub
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


def message(user: str, text: str, room: str = "r") -> str:
    return f'{{"type":"message","user":"{user}","text":"{text}","room":"{room}"}}'


async def test_outage_degrades_then_resyncs(redis_server: RedisServer, redis_url: str) -> None:
    a, b = await started_hub(redis_url), await started_hub(redis_url)
    try:
        alice, carol, bob = (
            FakeMember("alice", "r"),
            FakeMember("carol", "r"),
            FakeMember("bob", "r"),
        )
        await a.join(alice)
        await a.join(carol)
        await b.join(bob)
        await a.publish("r", message("alice", "before"))
        await bob.wait_for(lambda ev: bob.texts() == ["before"])

        redis_server.stop()
        await eventually(lambda: not a.healthy and not b.healthy, "both degraded")
        assert a.health()["redis"] == "degraded"
        await a.publish("r", message("alice", "during"))  # same process only
        assert alice.texts() == carol.texts() == ["before", "during"]
        dave = FakeMember("dave", "r")
        assert await a.join(dave) == 3  # local count while degraded
        assert await a.leave(carol)
        assert alice.systems()[-2:] == ["dave joined", "carol left"]

        redis_server.start()  # empty: no persistence
        await eventually(lambda: a.healthy and b.healthy, "both reconnected")
        # What changed during the outage reaches the other process once Redis is back.
        await bob.wait_for(lambda ev: bob.systems()[-2:] == ["dave joined", "carol left"])
        await a.publish("r", message("alice", "after"))
        for member in (alice, bob, dave):
            await member.wait_for(lambda ev, m=member: "after" in m.texts())
        assert bob.texts() == ["before", "after"]  # messages of the outage are not replayed
        assert alice.texts() == ["before", "during", "after"]
        assert alice.systems().count("dave joined") == 1  # not delivered twice on a
        assert alice.systems().count("carol left") == 1
        assert await b.join(FakeMember("erin", "r")) == 4  # alice, dave, bob, erin
    finally:
        await a.stop()
        await b.stop()


async def test_starts_degraded_when_redis_is_down_and_connects_later() -> None:
    server = RedisServer()
    hub = RedisHub(fast_config(server.url, op_timeout=0.5))
    try:
        await hub.start()
        assert not hub.healthy and hub.health()["redis"] == "degraded"
        alice = FakeMember("alice", "r")
        assert await hub.join(alice) == 1
        assert alice.events == [{"type": "welcome", "room": "r", "online": 1}]
        server.start()
        await eventually(lambda: hub.healthy, "connected once Redis is up")
        other = await started_hub(server.url)
        bob = FakeMember("bob", "r")
        assert await other.join(bob) == 2  # alice was registered on reconnection
        await alice.wait_system("bob joined")
        await other.stop()
        await alice.wait_system("bob left")
    finally:
        await hub.stop()
        server.__exit__(None, None, None)


async def test_publishes_in_flight_when_redis_dies_are_never_duplicated_or_reordered(
    redis_server: RedisServer, redis_url: str
) -> None:
    hub = await started_hub(redis_url)
    try:
        alice, bob = FakeMember("alice", "r"), FakeMember("bob", "r")
        await hub.join(alice)
        await hub.join(bob)

        async def send(user: str) -> None:
            for i in range(300):
                await hub.publish("r", message(user, str(i)))
                if user == "alice" and i == 100:
                    redis_server.stop()  # mid-conversation, publishes in flight

        await asyncio.gather(send("alice"), send("bob"))  # nothing raises into the senders
        assert not hub.healthy
        for member in (alice, bob):
            for user in ("alice", "bob"):
                got = [int(t) for t in member.texts(user)]  # type: ignore[call-overload]
                assert got == sorted(set(got)), f"{user} to {member.name}: {got}"
                assert got[-1] == 299  # everything after the failure was delivered locally
    finally:
        await hub.stop()


async def test_a_redis_that_stops_answering_is_detected_and_senders_never_hang(
    redis_url: str,
) -> None:
    hub = await started_hub(redis_url, op_timeout=0.5, node_ttl=1.0)
    admin = Redis.from_url(redis_url)
    try:
        alice = FakeMember("alice", "r")
        await hub.join(alice)
        await admin.execute_command("CLIENT", "PAUSE", "2500", "ALL")  # TCP up, no answers
        loop = asyncio.get_running_loop()
        started = loop.time()
        await hub.publish("r", message("alice", "into the void"))
        assert loop.time() - started < 0.5 + 1.0  # op_timeout, plus scheduling slack
        await eventually(lambda: not hub.healthy, "degraded while Redis is silent")
        await hub.publish("r", message("alice", "local"))
        assert alice.texts()[-1] == "local"
        await eventually(lambda: hub.healthy, "back once Redis answers again")
        await hub.publish("r", message("alice", "through redis"))
        await alice.wait_for(lambda ev: alice.texts()[-1] == "through redis")
    finally:
        await admin.aclose()
        await hub.stop()
