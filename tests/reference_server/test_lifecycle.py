"""Leaving by every path (section 6), slow consumers and storms (section 9), shutdown (11)."""

from __future__ import annotations

import asyncio
import random
import socket
import struct

import pytest

from reference_server.hub import LocalHub
from tests.reference_server.clients import (
    WAIT,
    client_frame,
    closed_code,
    get_json,
    join,
    raw_join,
    raw_wait_closed,
    recv,
    recv_until,
    say,
    system,
)

pytestmark = pytest.mark.anyio


async def test_tcp_reset_without_close_frame_is_announced(reference_url: str) -> None:
    # leave.abrupt (RST): SO_LINGER 0 makes close() send a reset.
    watcher = await join(reference_url, "abrupt", "watcher")
    gone = await join(reference_url, "abrupt", "gone")
    await recv(watcher)
    sock = gone.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    gone.transport.abort()
    await recv_until(watcher, system("gone left"), timeout=5.0)
    late = await join(reference_url, "abrupt", "late")
    assert late.welcome["online"] == 2
    await late.close()
    await watcher.close()


async def test_tcp_fin_without_close_frame_is_announced(reference_url: str) -> None:
    # leave.abrupt (FIN): a raw client closes its socket without a close frame.
    watcher = await join(reference_url, "fin", "watcher")
    sock = await raw_join(reference_url, "fin", "gone")
    sock.close()
    await recv_until(watcher, system("gone joined"))
    await recv_until(watcher, system("gone left"), timeout=5.0)
    assert (await get_json(reference_url, "/stats"))["members"] == 1
    await watcher.close()


async def test_half_open_member_is_dropped_by_pings(start_server) -> None:
    # leave.half-open: the raw socket answers no ping; pings every 0.2 s, 0.5 s to answer.
    url = start_server(ping_interval=0.2, ping_timeout=0.5, close_timeout=0.5).url
    watcher = await join(url, "half", "watcher")
    sock = await raw_join(url, "half", "silent")
    try:
        await recv_until(watcher, system("silent joined"))
        await recv_until(watcher, system("silent left"), timeout=3 * WAIT)
        await raw_wait_closed(sock)
    finally:
        sock.close()
    await watcher.close()


async def test_a_silent_member_is_pinged_an_interval_after_its_last_message(start_server) -> None:
    # The keepalive counts silence from the client's last message, not from the last ping
    # timer: a member that spoke just after connecting (just before its first timer, 2 s
    # later) is pinged 2 s after speaking, and dropped 0.5 s after that. Counting "heard since
    # the last timer" would skip that timer and drop it only at 4.5 s.
    url = start_server(ping_interval=2.0, ping_timeout=0.5, close_timeout=0.5).url
    sock = await raw_join(url, "quiet", "once")
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_sendall(sock, client_frame(0x1, b'{"text": "hi"}'))
        spoke = loop.time()
        await raw_wait_closed(sock, timeout=3.6)  # 2 s + 0.5 s, and 1.1 s to spare
        assert loop.time() - spoke >= 1.9  # not before it was silent for the interval
    finally:
        sock.close()


async def test_stuck_reader_is_evicted_and_never_stalls_the_room(start_server) -> None:
    # flow.slow-consumer, flow.evict: a client with a tiny receive buffer never reads while
    # 8 KB messages flow; the others get every message, the stuck one is closed and announced.
    server = start_server(queue_size=32, close_timeout=0.5)
    url = server.url
    a = await join(url, "flow", "a")
    b = await join(url, "flow", "b")
    stuck = await raw_join(url, "flow", "stuck", rcvbuf=4096)
    received = {"a": 0, "b": 0}
    progress = asyncio.Event()
    evicted = asyncio.Event()

    async def read(ws, who: str) -> None:
        while True:
            e = await recv(ws, 3 * WAIT)
            if e.get("type") == "message":
                assert e["text"].startswith(f"{received[who]}:"), f"{who}: lost or reordered"
                received[who] += 1
                progress.set()
            elif e == {"type": "system", "message": "stuck left"}:
                evicted.set()

    readers = [asyncio.create_task(read(a, "a")), asyncio.create_task(read(b, "b"))]

    async def delivered(count: int) -> None:
        """Until both readers have `count` messages; a reader's own failure fails the test."""
        while min(received.values()) < count:
            progress.clear()
            waiter = asyncio.ensure_future(progress.wait())
            await asyncio.wait([waiter, *readers], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            for reader in readers:
                if reader.done():
                    reader.result()  # raises the reader's assertion or timeout

    async def burst(first: int) -> int:
        for n in range(first, first + 16):
            await say(a, f"{n}:" + "x" * 8000)
        return first + 16

    sent = 0
    try:
        async with asyncio.timeout(6 * WAIT):  # a stalled room never gets through a burst
            while not evicted.is_set():
                assert sent < 3000, "never evicted"
                sent = await burst(sent)
                await delivered(sent)
            # after the eviction the room still flows, to both remaining members, in order
            sent = await burst(sent)
            await delivered(sent)
        await raw_wait_closed(stuck)  # the server ended the stuck TCP connection
        stats = await get_json(url, "/stats")
        assert stats["queue_overflows"] == 1 and stats["members"] == 2
    finally:
        stuck.close()
        for r in readers:
            r.cancel()
    await a.close()
    await b.close()


async def test_join_leave_storm_leaves_consistent_counts(reference_url: str) -> None:
    # flow.concurrency: 40 clients join and leave at once (clean closes and TCP aborts).
    watcher = await join(reference_url, "storm", "watcher")
    stayers = 5

    async def visitor(i: int) -> None:
        # max_queue=None: a client that never reads must not stall its own close handshake
        ws = await join(reference_url, "storm", f"v{i}", max_queue=None)
        await say(ws, f"hello from {i}")
        await asyncio.sleep(random.random() * 0.05)  # jitter, not synchronisation
        if i % 3 == 0:
            ws.transport.abort()
        else:
            await ws.close()

    keep = [await join(reference_url, "storm", f"s{i}", max_queue=None) for i in range(stayers)]
    await asyncio.gather(*(visitor(i) for i in range(40)))
    joined: set[str] = set()
    left: set[str] = set()
    async with asyncio.timeout(3 * WAIT):
        while len(left) < 40:
            e = await recv(watcher)
            if e["type"] == "system":
                name, _, verb = e["message"].rpartition(" ")
                assert name not in (left if verb == "left" else joined), f"twice: {e}"
                (left if verb == "left" else joined).add(name)
    assert left == {f"v{i}" for i in range(40)}
    assert joined == left | {f"s{i}" for i in range(stayers)}
    late = await join(reference_url, "storm", "late")
    assert late.welcome["online"] == stayers + 2
    assert (await get_json(reference_url, "/stats"))["members"] == stayers + 2
    for ws in [*keep, late, watcher]:
        await ws.close()


class _FailingHub(LocalHub):
    async def publish(self, room: str, frame: str) -> int:
        if "boom" in frame:
            raise RuntimeError("injected failure")
        return await super().publish(room, frame)


async def test_server_error_closes_with_1011_and_announces(start_server) -> None:
    # Section 6 / 11: an unexpected error on one connection: 1011, announced, room unharmed.
    url = start_server(hub=_FailingHub()).url
    a = await join(url, "err", "a")
    b = await join(url, "err", "b")
    await recv(a)
    await say(b, "boom")
    assert await closed_code(b) == 1011
    await recv_until(a, system("b left"))
    await say(a, "ok")
    assert (await recv(a))["text"] == "ok"
    await a.close()


async def test_graceful_shutdown_closes_everyone_with_1001(start_server) -> None:
    # shutdown.going-away, also with a client that never answers the close.
    server = start_server(close_timeout=0.5)
    a = await join(server.url, "bye", "a")
    b = await join(server.url, "bye", "b")
    silent = await raw_join(server.url, "bye", "silent")
    try:
        await recv_until(a, system("silent joined"))
        stopping = asyncio.create_task(asyncio.to_thread(server.stop))
        assert await closed_code(a) == 1001
        assert await closed_code(b) == 1001
        assert a.close_reason == "server shutting down"
        await raw_wait_closed(silent)
        await asyncio.wait_for(stopping, 3 * WAIT)
    finally:
        silent.close()


async def test_a_talking_member_is_not_pinged_a_silent_one_is(start_server) -> None:
    # The keepalive ping is skipped while messages come in (this raw client answers no ping:
    # pinged, it would be dropped after 2 s); once it falls silent, it is dropped. A busy
    # machine must stall this loop over a second (the interval) to get a ping in.
    url = start_server(ping_interval=1.0, ping_timeout=1.0, close_timeout=0.5).url
    sock = await raw_join(url, "talk", "talker")
    loop = asyncio.get_running_loop()
    try:
        for _ in range(60):  # 3 s of one message every 50 ms: longer than interval + timeout
            await loop.sock_sendall(sock, client_frame(0x1, b'{"text": "hi"}'))
            await asyncio.sleep(0.05)  # the pace of the talk, not a wait for anything
        assert (await get_json(url, "/stats"))["members"] == 1
        await raw_wait_closed(sock, timeout=3 * WAIT)  # silent now: pinged, unanswered
    finally:
        sock.close()
    assert (await get_json(url, "/stats"))["members"] == 0
