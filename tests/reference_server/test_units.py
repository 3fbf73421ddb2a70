"""The pure parts without sockets: hub membership, member outbox, settings."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
import pytest
from websockets.frames import Frame, Opcode

from reference_server import frames
from reference_server.connection import Connection
from reference_server.hub import LocalHub, Recipient
from reference_server.member import Member
from reference_server.settings import Settings, SettingsError
from reference_server.state import ChatState
from reference_server.transport import ping_wait

pytestmark = pytest.mark.anyio


def _drain(member: Member) -> list[dict[str, object]]:
    return [orjson.loads(frame) for frame in member.take_queued()]


async def test_hub_welcomes_first_announces_once_and_counts() -> None:
    hub = LocalHub()
    a, b = Member("a", "r", 10), Member("b", "r", 10)
    assert await hub.join(a) == 1
    assert await hub.join(b) == 2
    assert _drain(b) == [{"type": "welcome", "room": "r", "online": 2}]
    assert _drain(a) == [
        {"type": "welcome", "room": "r", "online": 1},
        {"type": "system", "message": "b joined"},
    ]
    assert await hub.leave(b) is True
    assert await hub.leave(b) is False  # a second exit path announces nothing
    assert _drain(a) == [{"type": "system", "message": "b left"}]
    assert hub.online("r") == 1 and hub.counts() == (1, 1)
    await hub.leave(a)
    assert hub.counts() == (0, 0)


async def test_publish_shares_one_frame_and_skips_other_rooms() -> None:
    hub = LocalHub()
    a, b, c = Member("a", "r", 10), Member("b", "r", 10), Member("c", "other", 10)
    for m in (a, b, c):
        await hub.join(m)
    for m in (a, b, c):
        _drain(m)
    frame = '{"type":"message","user":"a","text":"t","room":"r"}'
    assert await hub.publish("r", frame) == 2
    assert a._queue[0] is frame and b._queue[0] is frame  # serialized once, shared
    assert not c._queue


async def test_overflow_marks_for_eviction_without_waiting() -> None:
    m = Member("slow", "r", 2)
    called = []
    m.on_close_request = lambda: called.append(True)
    m.deliver("1")
    m.deliver("2")
    m.deliver("3")  # over the limit
    assert m.overflowed and m.close_request == (1008, "slow consumer") and called == [True]
    m.deliver("4")
    m.request_close(1001, "later")  # the first request wins
    assert m.close_request.code == 1008 and called == [True]
    assert not m.has_queued()  # nothing more is sent to it


def test_queueing_tells_the_connection_each_time() -> None:
    m = Member("m", "r", 5)
    told = []
    m.on_queued = lambda: told.append(len(m._queue))
    m.deliver("x")  # no sink yet: everything queues
    m.deliver("y")
    assert told == [1, 2] and m.has_queued()
    assert m.pop_queued() == "x" and m.take_queued() == ["y"] and not m.has_queued()


def test_a_member_is_pinged_once_silent_for_the_whole_interval() -> None:
    # Heard at 100 s, interval 10 s: at 103 the timer is set again for 7 s; at 110 and after,
    # ping now (0 or less). The wait counts from the last message, not from the timer.
    assert ping_wait(103.0, 100.0, 10.0) == pytest.approx(7.0)
    assert ping_wait(110.0, 100.0, 10.0) == pytest.approx(0.0)
    assert ping_wait(125.0, 100.0, 10.0) < 0
    assert ping_wait(100.5, 100.0, 10.0) == pytest.approx(9.5)


def test_settings_from_env_then_overrides() -> None:
    env = {"CHATBENCH_PORT": "9001", "CHATBENCH_ALLOWED_ORIGINS": "https://a, https://b"}
    s = Settings.from_env(env, queue_size=7, host=None)
    assert (s.port, s.queue_size, s.host) == (9001, 7, "127.0.0.1")
    assert s.allowed_origins == ("https://a", "https://b")
    assert Settings.from_env(env, port=1).port == 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHATBENCH_PORT": "x"}, "CHATBENCH_PORT='x' is not an integer"),
        ({"CHATBENCH_PING_TIMEOUT": "0"}, "ping_timeout must be a positive number of seconds"),
        ({"CHATBENCH_QUEUE_SIZE": "0"}, "queue_size must be positive, got 0"),
        ({"CHATBENCH_PORT": "99999"}, r"port must be 0\.\.65535, got 99999"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_wire_matches_websockets_own_framing(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)
    expected = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
    assert frames.wire(text) == expected


class FakeSink:
    def __init__(self) -> None:
        self.open = True
        self.written: list[bytes] = []

    def can_write(self) -> bool:
        return self.open

    def write(self, data: bytes) -> None:
        self.written.append(data)


async def test_deliver_writes_through_while_the_sink_takes_data() -> None:
    member, sink = Member("a", "r", limit=2), FakeSink()
    member.sink = sink
    member.deliver("one")
    member.deliver("two", frames.wire("two"))
    assert sink.written == [frames.wire("one"), frames.wire("two")]
    assert member.take_queued() == []


async def test_deliver_queues_under_back_pressure_and_keeps_order() -> None:
    member, sink = Member("a", "r", limit=2), FakeSink()
    member.sink = sink
    sink.open = False
    member.deliver("one")
    sink.open = True
    member.deliver("two")  # something is queued: writing now would overtake "one"
    assert sink.written == []
    assert member.has_queued()
    assert member.take_queued() == ["one", "two"]


async def test_back_pressure_beyond_the_limit_evicts() -> None:
    member, sink = Member("a", "r", limit=1), FakeSink()
    member.sink, sink.open = sink, False
    member.deliver("one")
    member.deliver("two")
    assert member.overflowed and member.close_request == (1008, "slow consumer")
    assert not member.has_queued()


async def test_a_members_place_frees_before_its_left_goes_out() -> None:
    # the CI flake: a client saw `b left`, connected, and was refused 1013 because b's
    # connection was still closing; the place is now freed before `left` is announced
    state = ChatState(Settings(max_connections=1))
    at_limit_when_left_went_out: list[bool] = []

    class WatchingHub(LocalHub):
        async def leave(self, member: Recipient) -> bool:
            at_limit_when_left_went_out.append(state.at_limit())
            return await super().leave(member)

    hub = WatchingHub()
    member = Member("b", "r", 10)
    state.admit(member)
    await hub.join(member)
    assert state.at_limit()
    ws = SimpleNamespace(scope={})
    conn = Connection(ws, member, hub, state.settings, state.stats, state.vacate)  # type: ignore[arg-type]
    await conn._cleanup(None)
    assert at_limit_when_left_went_out == [False]
    assert member in state.members  # still open (shutdown waits for it) until released
    state.release(member)
    assert not state.members and not state.at_limit()
