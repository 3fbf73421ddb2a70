"""The limits' pure parts (token bucket, descriptor budget, the handshake cap), and the rate
limit against a running reference server (flow.rate-limit)."""

from __future__ import annotations

import asyncio
import json

import pytest

from reference_server.descriptors import RESERVED, member_limit, raise_limit
from reference_server.handshake import Doorway, HandshakeLimits
from reference_server.limits import TokenBucket
from reference_server.settings import Settings, SettingsError
from tests.reference_server.clients import closed_code, get_json, join, recv, recv_until, say


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=10.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(0.05)  # half a token
    assert bucket.take(0.1)
    assert [bucket.take(10.0) for _ in range(4)] == [True, True, True, False]  # capped at burst


def test_members_get_the_descriptors_handshakes_and_the_server_leave() -> None:
    assert member_limit(20_000, 256, 0) == 20_000 - 256 - RESERVED
    assert member_limit(20_000, 256, 500) == 500
    assert member_limit(100, 256, 0) == 1  # never 0: 0 means no limit
    fds = raise_limit()
    assert fds.limit >= fds.before


class _Waiting:
    def __init__(self, doorway: Doorway) -> None:
        self.doorway, self.is_shed = doorway, False

    def shed(self) -> None:
        self.is_shed = True
        self.doorway.leave(self)  # type: ignore[arg-type]


def test_the_doorway_sheds_the_oldest_past_its_cap() -> None:
    doorway = Doorway(HandshakeLimits(max_pending=2))
    conns = [_Waiting(doorway) for _ in range(4)]
    for conn in conns:
        doorway.enter(conn)  # type: ignore[arg-type]
    assert [c.is_shed for c in conns] == [True, True, False, False]
    assert doorway.shed == 2 and doorway.waiting == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rate_limit": -1.0}, "rate_limit"),
        ({"rate_limit": float("nan")}, "rate_limit"),
        ({"max_handshakes": 0}, "max_handshakes"),
        ({"handshake_timeout": 0.0}, "handshake_timeout"),
        ({"max_request_line": 9000}, "max_request_line"),
        ({"max_fragments": 0}, "max_fragments"),
    ],
)
def test_bad_limits_are_named(changes: dict[str, float], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings(**changes)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_over_the_rate_limit_messages_are_refused_then_the_flooder_closed(
    start_server,
) -> None:
    # flow.rate-limit: 5 at once, then 1/s; 5 refusals allowed (refilling), then 1008
    server = start_server(rate_limit=1.0, rate_burst=5)
    flooder = await join(server.url, "rl", "flooder")
    other = await join(server.url, "rl", "other")
    await recv(flooder)  # other joined
    for i in range(40):
        await flooder.send(json.dumps({"text": f"f{i}"}))
    assert await closed_code(flooder) == 1008
    events = await recv_until(other, lambda e: e == {"type": "system", "message": "flooder left"})
    relayed = [e["text"] for e in events if e["type"] == "message"]
    assert 5 <= len(relayed) <= 6 and relayed == [f"f{i}" for i in range(len(relayed))]
    await say(other, "calm")
    assert (await recv(other))["text"] == "calm"
    stats = await get_json(server.url, "/stats")
    assert stats["flooders_closed"] == 1 and stats["rate_limited"] >= 5
    await other.close()


@pytest.mark.anyio
async def test_a_client_within_the_limit_gets_every_message_relayed(start_server) -> None:
    server = start_server(rate_limit=0.5, rate_burst=10)
    ann = await join(server.url, "rl2", "ann")
    for i in range(10):
        await say(ann, f"m{i}")
    got = [(await recv(ann))["text"] for _ in range(10)]
    assert got == [f"m{i}" for i in range(10)]
    await say(ann, "one more")
    assert (await recv(ann))["code"] == "rate_limited"  # the burst spent, no time passed
    await asyncio.wait_for(ann.close(), 5)
