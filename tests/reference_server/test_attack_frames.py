"""Attacks after the upgrade (issue 14, points 7 and 9): endless fragments, a ping flood.

Each runs for real on loopback against the reference server and against the bare server (the
same stack with uvicorn's own WebSocket protocol) to show the attack working there.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from reference_server.transport import WireLimits
from tests.reference_server.attacks import (
    OP_CONT,
    OP_PING,
    OP_TEXT,
    FrameReader,
    chat_protocols,
    frame,
    held_fragments,
    raw_member,
    running_bare,
    send,
    write_buffers,
)
from tests.reference_server.clients import T, join, recv_until, say, system

pytestmark = pytest.mark.anyio

JOIN_BOUND = 1.0 * T
EMPTY_CONTINUATIONS = frame(OP_CONT, fin=False) * 1000


async def _continuations(member: FrameReader, seconds: float) -> int:
    """Send a text frame without FIN, then empty continuation frames until the server stops
    taking them or `seconds` pass; how many were sent."""
    await send(member.sock, frame(OP_TEXT, b'{"text": "', fin=False))
    sent, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline and await send(member.sock, EMPTY_CONTINUATIONS, 1.0):
        sent += 1000
    return sent


async def test_endless_empty_continuations_are_closed_with_1009(start_server) -> None:
    server = start_server(max_fragments=64)
    other = await join(server.url, "frag", "other")
    attacker = await raw_member(server.url, "frag", "attacker")
    try:
        await recv_until(other, system("attacker joined"))
        await _continuations(attacker, 2.0 * T)
        assert await attacker.close_code() == 1009
        await recv_until(other, system("attacker left"))
        newcomer = await asyncio.wait_for(join(server.url, "frag", "newcomer"), JOIN_BOUND)
        await say(other, "still here")
        assert (await recv_until(newcomer, lambda e: e.get("text") == "still here"))[-1]
        await newcomer.close()
    finally:
        attacker.sock.close()
        await other.close()


async def test_a_message_that_never_ends_is_closed_with_1008(start_server) -> None:
    server = start_server(message_timeout=0.5)
    attacker = await raw_member(server.url, "slowmsg", "attacker")
    try:
        await send(attacker.sock, frame(OP_TEXT, b'{"text": "a', fin=False))
        await send(attacker.sock, frame(OP_CONT, b"b", fin=False))
        assert await attacker.close_code(0.5 + 2.0 * T) == 1008
    finally:
        attacker.sock.close()


async def test_fragmented_messages_within_the_limits_are_relayed(start_server) -> None:
    server = start_server(max_fragments=4)
    member = await raw_member(server.url, "fragok", "ann")
    try:
        parts = [b'{"text": ', b'"one ', b"two", b'"}']
        data = frame(OP_TEXT, parts[0], fin=False) + frame(OP_CONT, parts[1], fin=False)
        data += frame(OP_CONT, parts[2], fin=False) + frame(OP_CONT, parts[3])
        await send(member.sock, data)
        frames = [await member.next() for _ in range(2)]  # welcome, then the message
        assert frames[1] is not None and b'"text":"one two"' in frames[1][1]
    finally:
        member.sock.close()


async def test_endless_empty_continuations_stay_open_on_a_bare_server() -> None:
    with running_bare() as (url, server):
        attacker = await raw_member(url, "frag", "attacker")
        try:
            assert await _continuations(attacker, 1.0 * T) >= 10_000  # all taken, none refused
            assert held_fragments(server) >= 10_000  # one message's frames, piling up
            assert await attacker.close_code(1.0 * T) is None  # and never closed
        finally:
            attacker.sock.close()


async def test_a_message_that_never_ends_stays_open_on_a_bare_server() -> None:
    with running_bare() as (url, _):
        attacker = await raw_member(url, "slowmsg", "attacker")
        try:
            await send(attacker.sock, frame(OP_TEXT, b'{"text": "a', fin=False))
            assert await attacker.close_code(0.5 + 2.0 * T) is None  # no close: the wait ran out
        finally:
            attacker.sock.close()


PING = frame(OP_PING, b"p" * 125)  # 131 bytes; its pong is 127
FLOOD_BYTES = 48 << 20


async def _ping_flood(member: FrameReader) -> tuple[int, bytes]:
    """Ping without ever reading, until FLOOD_BYTES are sent or the server has taken nothing
    for a second. How many bytes were sent, and the rest of the ping cut short: a caller that
    goes on talking sends it first, once the server reads again (sent before, it can wait out
    any timeout behind the unread pongs, and a lost tail would swallow the next frame)."""
    sent, view = 0, memoryview(PING * 4000)
    while sent < FLOOD_BYTES:
        try:
            sent += member.sock.send(view[sent % len(view) :])
        except BlockingIOError:
            if not await _writable(member.sock, 1.0 * T):
                break
    return sent, PING[sent % len(PING) :] if sent % len(PING) else b""


async def _writable(sock: socket.socket, timeout: float) -> bool:
    """Wait until `sock` takes data again (the server read some), up to `timeout`."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_writer(sock.fileno(), lambda: ready.done() or ready.set_result(None))
    try:
        await asyncio.wait_for(ready, timeout)
    except TimeoutError:
        return False
    finally:
        loop.remove_writer(sock.fileno())
    return True


async def test_a_ping_flood_that_never_reads_is_not_read_either(start_server) -> None:
    server = start_server(max_unsent_bytes=1 << 20)
    other = await join(server.url, "pings", "other")
    attacker = await raw_member(server.url, "pings", "attacker", rcvbuf=4096)
    try:
        sent, _ = await _ping_flood(attacker)
        unsent = max(write_buffers(server.server), default=0)
        # the server stopped reading once 1 MB waited: a read's worth of pongs more at most
        assert unsent <= (1 << 20) + (1 << 20), unsent
        assert sent < FLOOD_BYTES  # the attacker's sends blocked: TCP pushes back on it
        assert any(p._output_blocked for p in chat_protocols(server.server))
        newcomer = await asyncio.wait_for(join(server.url, "pings", "newcomer"), JOIN_BOUND)
        await say(other, "fine")
        assert (await recv_until(newcomer, lambda e: e.get("text") == "fine"))[-1]
        await newcomer.close()
    finally:
        attacker.sock.close()
        await other.close()


async def test_a_ping_flood_that_never_reads_grows_a_bare_server() -> None:
    with running_bare() as (url, server):
        attacker = await raw_member(url, "pings", "attacker", rcvbuf=4096)
        try:
            await _ping_flood(attacker)
            assert max(write_buffers(server), default=0) > 16 << 20  # pongs without bound
        finally:
            attacker.sock.close()


async def test_a_reader_that_catches_up_is_read_again(start_server) -> None:
    # stopping reading is back-pressure, not a verdict: once the pongs drain, it is served
    server = start_server(max_unsent_bytes=WireLimits().max_unsent_bytes)
    attacker = await raw_member(server.url, "catchup", "attacker", rcvbuf=4096)
    try:
        _, tail = await _ping_flood(attacker)
        assert any(p._output_blocked for p in chat_protocols(server.server))
        drained = asyncio.ensure_future(_drain_pongs(attacker))
        after = frame(OP_TEXT, b'{"text": "after"}')
        assert await send(attacker.sock, tail + after, 10.0 * T)  # goes in as the pongs drain
        await asyncio.wait_for(drained, 10.0 * T)
    finally:
        attacker.sock.close()


async def _drain_pongs(member: FrameReader) -> None:
    """Read everything until the member's own message comes back."""
    while (got := await member.next(10.0 * T)) is not None:
        if got[0] == OP_TEXT and b'"after"' in got[1]:
            return
    raise AssertionError("the connection ended before the message came back")
