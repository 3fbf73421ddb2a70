"""Section 9, slow consumers and liveness: stuck readers, eviction, join/leave storms."""

from __future__ import annotations

import asyncio
import secrets
import time

from harness.check import CaseContext, Client, ServerViolation, is_system, scenario
from harness.protocol import Message, Welcome
from scenarios.conformance._steps import require

RCVBUF = 4096
"""The stuck member's socket receive buffer: small, so the server's buffers fill for real."""
PAYLOAD = 8000
STALL_MESSAGES = 1000
EVICT_MESSAGES = 2500
TAIL = 5
STORM_JOIN, STORM_LEAVE, STORM_LATE = 16, 8, 4


async def _stuck_room(ctx: CaseContext) -> tuple[Client, Client, Client]:
    """A room with a member that stopped reading, a sender and a reader."""
    room = ctx.room()
    stuck = await ctx.join(room, label="stuck", rcvbuf=RCVBUF)
    stuck.stop_reading()
    return stuck, await ctx.join(room, label="sender"), await ctx.join(room, label="reader")


async def _flood(ctx: CaseContext, sender: Client, reader: Client, count: int) -> float:
    """Send `count` large messages; the reader must get them all in time. Returns seconds."""
    block = secrets.token_hex(PAYLOAD // 2)
    t0 = time.monotonic()
    ctx.note(f"{sender.label} sends {count} messages of {PAYLOAD} characters")
    sending = asyncio.ensure_future(_send_all(ctx, sender, block, count))
    try:
        await _await_messages(ctx, reader, count, ctx.t(15))
    finally:
        # A blocked send is judged by the reader's progress; only retrieve its exception.
        sending.add_done_callback(lambda task: task.cancelled() or task.exception())
        sending.cancel()
    return time.monotonic() - t0


async def _send_all(ctx: CaseContext, sender: Client, block: str, count: int) -> None:
    for n in range(count):
        await sender.say(f"{n}:{block}", ctx.t(5))


async def _await_messages(ctx: CaseContext, reader: Client, count: int, limit: float) -> None:
    """The reader keeps up: it gets one of the last messages sent (loss is message.order's)."""
    last = {f"{n}:" for n in range(count - TAIL, count)}
    try:
        await reader.await_seen(
            lambda e: isinstance(e, Message) and e.text[: e.text.find(":") + 1] in last, "", limit
        )
    except ServerViolation:
        if reader.violation:
            raise reader.violation from None
        raise ServerViolation(
            f"{reader.label} got {_count(reader)} of {count} messages in {limit:.1f} s "
            "while one member stopped reading",
            expected=f"all {count} messages, as fast as without the stuck member",
            observed=f"{_count(reader)} messages, then nothing",
        ) from None


def _count(client: Client) -> int:
    return sum(isinstance(e, Message) for e in client.history)


@scenario(
    "flow.slow-consumer",
    sends=f"a member with a {RCVBUF}-byte receive buffer stops reading; another sends "
    f"{STALL_MESSAGES} messages of {PAYLOAD} characters",
    expects="a third member keeps receiving: it gets the last messages sent within 15 s",
    budget=40,
    alone=True,
)
async def slow_consumer(ctx: CaseContext) -> None:
    # 9. "a member that stops reading never stalls the room: the other members go on receiving
    # every message with no more delay than without it"
    _, sender, reader = await _stuck_room(ctx)
    took = await _flood(ctx, sender, reader, STALL_MESSAGES)
    ctx.note(f"reader got all {STALL_MESSAGES} messages in {took:.2f} s")


@scenario(
    "flow.evict",
    sends=f"as flow.slow-consumer, with {EVICT_MESSAGES} messages",
    expects="the stuck member is announced as left; its close code, if one arrives, is 1008",
    budget=50,
    alone=True,
)
async def evict(ctx: CaseContext) -> None:
    # 9. "a member whose outbound queue overflows is closed with code 1008 (reason `slow
    # consumer`) and announced as left"
    stuck, sender, reader = await _stuck_room(ctx)
    await _flood(ctx, sender, reader, EVICT_MESSAGES)
    await reader.await_seen(is_system(stuck.name, "left"), f"'{stuck.name} left'", ctx.t(5))
    stuck.resume_reading()
    await stuck.wait_closed(ctx.t(10))
    code = stuck.close_code
    # A close frame queued behind megabytes of unread data may never arrive: then none is judged.
    require(
        code in (None, 1008),
        "evicted member closed with the wrong code",
        "1008",
        stuck.describe_close(),
    )


@scenario(
    "flow.concurrency",
    sends=f"{STORM_JOIN} members join at once; then {STORM_LEAVE} leave (half clean, half TCP "
    f"drop) while {STORM_LATE} more join at once; then one more joins",
    expects="every leaver announced to a watcher; the last welcome counts exactly those present",
    budget=40,
)
async def concurrency(ctx: CaseContext) -> None:
    # 9. "after a storm of concurrent joins and leaves settles, a new joiner's `online` equals
    # the number of members actually present, and every member that left was announced"
    room = ctx.room()
    watcher = await ctx.join(room, label="watcher")
    crowd = await asyncio.gather(*(ctx.join(room, label=f"j{i}") for i in range(STORM_JOIN)))
    leavers = crowd[:STORM_LEAVE]
    for dropped in leavers[::2]:
        dropped.abort()
    await asyncio.gather(
        *(c.close(ctx.t()) for c in leavers[1::2]),
        *(ctx.join(room, label=f"late{i}") for i in range(STORM_LATE)),
    )
    for leaver in leavers:
        await watcher.await_seen(is_system(leaver.name, "left"), f"'{leaver.name} left'", ctx.t(5))
    last = await ctx.join(room, label="last")
    present = 1 + (STORM_JOIN - STORM_LEAVE) + STORM_LATE + 1
    welcome = last.history[0]
    require(
        isinstance(welcome, Welcome) and welcome.online == present,
        "online after the storm",
        f"online {present}",
        welcome,
    )
