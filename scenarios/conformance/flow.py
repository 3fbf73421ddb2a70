"""Section 9, slow consumers and liveness: stuck readers, eviction, join/leave storms."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from dataclasses import dataclass, field, replace

from harness.check import CaseContext, CaseSkipped, Client, ServerViolation, is_left, scenario
from harness.profile import ERROR, MESSAGE, WELCOME
from scenarios.conformance._steps import claims_online, expect_message, require

RCVBUF = 4096
"""The stuck member's socket receive buffer: small, so the server's buffers fill for real."""
PAYLOAD = 8000
SENDERS = 4
"""Senders share each burst: a server that is merely slow per sender still finishes soon."""
STALL_MESSAGES = 1000
"""8 MB: more than the kernel buffers toward the stuck member hold (about 3 MB on loopback)."""
EVICT_MESSAGES = 4000
"""32 MB at most, sent until the stuck member is announced: 1,000 per sender, the reference
server's burst. A server that holds more than this for one member never evicts in practice."""
WINDOW = 256
"""Messages the senders may be ahead of the reader. A server then holds at most this many of a
burst for the reader, so the reader is never the slow consumer, even on a busy machine where the
harness reads slower than it sends (CI saw a reader evicted with 1008 in the middle of a flood)."""
STALL_LIMIT = 1.0
"""Seconds: a stall this much longer than the baseline's is one the clause forbids."""
SILENCE = 5.0
"""Seconds of silence after which the messages still missing count as lost."""
KEEP_CHARS = 40
STORM_JOIN, STORM_LEAVE, STORM_LATE = 16, 8, 4


@dataclass(frozen=True)
class Burst:
    """What the reader saw of one burst: counts, how long it took, its longest silence."""

    sent: int
    received: int
    duration: float
    stall: float
    refused: int = 0
    """Messages of the burst the server answered with error rate_limited."""
    closed: int = 0
    """Senders the server closed with 1008 (flooding, or a sender evicted as slow) by its end."""

    def describe(self) -> str:
        """One line for reasons and notes."""
        return (
            f"{self.received} of {self.sent} messages in {self.duration:.2f} s, "
            f"longest silence {self.stall:.2f} s"
        )


@dataclass
class _Pace:
    """A burst's senders and its reader: the senders keep within WINDOW of the reader."""

    senders: int
    sent: int = 0
    received: int = 0
    moved: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def advance(self, received: int) -> None:
        """The reader has `received` messages of the burst."""
        if received > self.received:
            self.received = received
            self.moved.set()

    async def turn(self, timeout: float) -> bool:
        """Wait until one more message keeps within WINDOW; False if the reader stays behind."""
        while self.sent - self.received >= WINDOW:
            self.moved.clear()
            try:
                await asyncio.wait_for(self.moved.wait(), timeout)
            except TimeoutError:
                return False
        return True

    def sender_done(self) -> None:
        """One sender has sent its share (or stopped); the last one ends the sending."""
        self.senders -= 1
        if self.senders <= 0:
            self.finished.set()


async def _flood_room(ctx: CaseContext, stuck_first: bool) -> tuple[Client | None, list[Client]]:
    """A room of senders and a reader (the last client), after a stuck member if asked."""
    room = ctx.room()
    stuck = await _stuck_member(ctx, room) if stuck_first else None
    clients = [await ctx.join(room, label=f"sender{i}") for i in range(SENDERS)]
    clients.append(await ctx.join(room, label="reader"))
    for client in clients:
        client.trim_texts = KEEP_CHARS  # 8 MB a burst per member: keep the counts, not the text
    return stuck, clients


async def _stuck_member(ctx: CaseContext, room: str) -> Client:
    stuck = await ctx.join(room, label="stuck", rcvbuf=RCVBUF)
    stuck.trim_texts = KEEP_CHARS
    stuck.stop_reading()
    return stuck


async def _burst(
    ctx: CaseContext,
    clients: list[Client],
    tag: str,
    total: int,
    stop: asyncio.Future[None] | None = None,
) -> Burst:
    """Every sender sends its share of `total` messages, never more than WINDOW ahead of the
    reader, until `stop` is done; what the reader saw of what was sent."""
    *senders, reader = clients
    block = secrets.token_hex(PAYLOAD // 2)
    ctx.note(
        f"burst {tag}: {len(senders)} senders send {total} messages of {PAYLOAD} characters, "
        f"at most {WINDOW} ahead of the reader"
    )
    marks = [len(s.history) for s in senders]
    pace = _Pace(len(senders))
    start = time.monotonic()
    sending = [
        asyncio.ensure_future(
            _send_share(ctx, s, f"{tag}:{i}:", block, total // len(senders), pace, stop)
        )
        for i, s in enumerate(senders)
    ]
    try:
        burst = await _watch(ctx, reader, tag, pace, start)
    finally:
        for task in sending:  # a blocked send is judged by the reader's progress
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            task.cancel()
    stopped = stop is not None and stop.done()
    refused = sum(
        1
        for s, mark in zip(senders, marks, strict=True)
        for e in s.history[mark:]
        if e.kind == ERROR and e.code == "rate_limited"
    )
    closed = sum(1 for s in senders if s.closed.is_set() and s.close_code == 1008)
    return replace(burst, sent=pace.sent if stopped else total, refused=refused, closed=closed)


async def _send_share(
    ctx: CaseContext,
    sender: Client,
    head: str,
    block: str,
    n: int,
    pace: _Pace,
    stop: asyncio.Future[None] | None,
) -> None:
    try:
        for k in range(n):
            if (stop is not None and stop.done()) or not await pace.turn(ctx.t(SILENCE)):
                return
            pace.sent += 1
            if not await sender.say(f"{head}{k}:{block}", ctx.t(30)):
                pace.sent -= 1
                return
    finally:
        pace.sender_done()


async def _watch(ctx: CaseContext, reader: Client, tag: str, pace: _Pace, start: float) -> Burst:
    """Follow the reader until it has all the senders sent, or stays silent for SILENCE s."""
    head = f"{tag}:"
    times: list[float] = []
    scanned = len(reader.history)
    while True:
        for event, at in zip(reader.history[scanned:], reader.arrivals[scanned:], strict=True):
            if event.kind == MESSAGE and event.text is not None and event.text.startswith(head):
                times.append(at)
        scanned = len(reader.history)
        pace.advance(len(times))
        complete = pace.finished.is_set() and len(times) >= pace.sent
        if complete:
            break
        if not await _news_or_finished(reader, scanned, pace, ctx.t(SILENCE)):
            break
    end = times[-1] if complete and times else time.monotonic()
    marks = [start, *times, end]
    stall = max(b - a for a, b in itertools.pairwise(marks))
    return Burst(pace.sent, len(times), end - start, stall)


async def _news_or_finished(reader: Client, scanned: int, pace: _Pace, timeout: float) -> bool:
    """Wait for the reader's events after `scanned`, or for the senders to finish; False:
    neither came within `timeout`."""
    if pace.finished.is_set():
        return await reader.news(timeout, since=scanned)
    news = asyncio.ensure_future(reader.news(timeout, since=scanned))
    finished = asyncio.ensure_future(pace.finished.wait())
    try:
        await asyncio.wait({news, finished}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        news.cancel()  # the case was cancelled: leave no waiter behind
        raise
    finally:
        finished.cancel()
    if news.done():
        return news.result()  # an event (or a violation) first
    news.cancel()
    return True  # the senders finished


@scenario(
    "flow.slow-consumer",
    sends=f"{SENDERS} senders send {STALL_MESSAGES} messages of {PAYLOAD} characters to a "
    f"reader (at most {WINDOW} ahead of it): once as a baseline, once more after a member "
    f"with a {RCVBUF}-byte receive buffer joined and stopped reading",
    expects="the reader gets every message of the second burst, with no silence over "
    f"{STALL_LIMIT:.0f} s longer than the baseline's and no more than twice its time",
    budget=60,
    alone=True,
)
async def slow_consumer(ctx: CaseContext) -> None:
    # 9. "a member that stops reading never stalls the room: the other members go on receiving
    # every message with no more delay than without it"
    _, clients = await _flood_room(ctx, stuck_first=False)
    base = await _burst(ctx, clients, "base", STALL_MESSAGES)
    _baseline_complete(base)
    ctx.note(f"baseline: {base.describe()}")
    await _stuck_member(ctx, clients[0].room)
    stuck = await _burst(ctx, clients, "stuck", STALL_MESSAGES)
    ctx.note(f"with a stuck member: {stuck.describe()}")
    _no_worse(ctx, base, stuck)


def _rate_limited(burst: Burst, when: str, total: int) -> None:
    """A server that rate-limited the burst (refused messages as rate_limited, and maybe
    closed senders with 1008 after that) cannot be judged by it. A 1008 without a refusal
    may be a slow consumer's eviction: that alone does not skip."""
    if burst.refused:
        raise CaseSkipped(
            f"the server refused {burst.refused} of the burst's messages as rate_limited and "
            f"closed {burst.closed} of its senders with 1008 {when}: this case needs each of "
            f"{SENDERS} senders to send up to {total // SENDERS} messages at once (the "
            "reference server allows bursts of 1,000)"
        )


def _baseline_complete(base: Burst) -> None:
    """Without the stuck member every message arrives, or message.order is the one broken."""
    _rate_limited(base, "in the baseline", STALL_MESSAGES)
    if base.received < base.sent:
        raise ServerViolation(
            f"the baseline burst lost messages before any member was stuck: {base.describe()}",
            expected=f"all {base.sent} messages",
            observed=base.describe(),
            clause="message.order",
        )


def _no_worse(ctx: CaseContext, base: Burst, stuck: Burst) -> None:
    """The stuck member costs the reader no message, no stall and no slowdown."""
    _rate_limited(stuck, "with the stuck member", STALL_MESSAGES)
    limit = ctx.t(STALL_LIMIT)
    problems = []
    if stuck.received < stuck.sent:
        problems.append(f"it got {stuck.received} of {stuck.sent} messages")
    if stuck.stall > base.stall + limit:
        problems.append(
            f"it received nothing for {stuck.stall:.2f} s at once ({base.stall:.2f} s without "
            "the stuck member)"
        )
    if stuck.duration > 2 * base.duration + limit:
        problems.append(
            f"the burst took {stuck.duration:.2f} s ({base.duration:.2f} s without the stuck "
            "member)"
        )
    require(
        not problems,
        f"while one member stopped reading, {'; '.join(problems)}",
        f"every message, as without the stuck member ({base.describe()})",
        stuck.describe(),
    )


@scenario(
    "flow.evict",
    sends=f"a member with a {RCVBUF}-byte receive buffer stops reading; {SENDERS} senders send "
    f"up to {EVICT_MESSAGES} messages of {PAYLOAD} characters (at most {WINDOW} ahead of a "
    "reader) until it is announced",
    expects="the stuck member is announced as left and its connection closed with code 1008 "
    "(it reads again once announced, so the close frame can reach it)",
    budget=60,
    alone=True,
    needs=("v1_rules", "announces_leave"),
)
async def evict(ctx: CaseContext) -> None:
    # 9. "a member whose outbound queue overflows is closed with code 1008 (reason `slow
    # consumer`) and announced as left"
    stuck, clients = await _flood_room(ctx, stuck_first=True)
    assert stuck is not None
    reader = clients[-1]
    left = asyncio.ensure_future(_resume_when_left(ctx, stuck, reader))
    try:
        flood = await _burst(ctx, clients, "flood", EVICT_MESSAGES, stop=left)
        if not left.done():  # an announcement after a limited flood is another timeout's
            _rate_limited(flood, "before the stuck member was announced", EVICT_MESSAGES)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(left), ctx.t(5))
    finally:
        left.cancel()
    if left.cancelled():
        raise ServerViolation(
            f"{reader.label}: no '{stuck.name} left' within 5 s of a flood of {flood.sent} "
            f"messages ({flood.sent * PAYLOAD / 1e6:.0f} MB)",
            expected=f"'{stuck.name} left' once its queue overflowed",
            observed=f"{flood.describe()}; {len(reader.history)} events, none announcing it",
        )
    ended = await stuck.wait_closed(ctx.t(10))
    require(
        ended and stuck.close_code == 1008,
        "the evicted member was not closed with code 1008",
        "close frame 1008",
        stuck.describe_close() if ended else "still open",
    )


async def _resume_when_left(ctx: CaseContext, stuck: Client, reader: Client) -> None:
    """Read again as soon as the eviction is announced: the close frame is behind the data."""
    await reader.await_seen(is_left(stuck.name), f"'{stuck.name} left'", ctx.t(60))
    stuck.resume_reading()


@scenario(
    "flow.concurrency",
    sends=f"{STORM_JOIN} members join at once; then {STORM_LEAVE} leave (half clean, half TCP "
    f"drop by RST or FIN) while {STORM_LATE} more join at once; then one more joins",
    expects="every leaver announced to a watcher; the last welcome counts exactly those present",
    budget=40,
    needs=("announces_leave",),
)
async def concurrency(ctx: CaseContext) -> None:
    # 9. "after a storm of concurrent joins and leaves settles, a new joiner's `online` equals
    # the number of members actually present, and every member that left was announced"
    room = ctx.room()
    watcher = await ctx.join(room, label="watcher")
    crowd = await asyncio.gather(*(ctx.join(room, label=f"j{i}") for i in range(STORM_JOIN)))
    leavers = crowd[:STORM_LEAVE]
    for i, dropped in enumerate(leavers[::2]):
        dropped.abort("rst" if i % 2 else "fin")
    await asyncio.gather(
        *(c.close(ctx.t()) for c in leavers[1::2]),
        *(ctx.join(room, label=f"late{i}") for i in range(STORM_LATE)),
    )
    for leaver in leavers:
        await watcher.await_seen(is_left(leaver.name), f"'{leaver.name} left'", ctx.t(5))
    if not claims_online(ctx):
        return  # no member count to judge: the announcements were the clause
    last = await ctx.join(room, label="last")
    present = 1 + (STORM_JOIN - STORM_LEAVE) + STORM_LATE + 1
    welcome = last.welcome
    require(
        welcome.kind == WELCOME and welcome.online == present,
        "online after the storm",
        f"online {present}",
        welcome,
    )


FLOOD_MESSAGES = 5000
FLOOD_SECONDS = 3.0
RATE_BOUND = 2000
"""Messages of one connection a server may relay in any one second (flow.rate-limit)."""
FLOOD_SETTLE = 1.0
"""Seconds of silence at the watcher after which the server has relayed all it will."""


@scenario(
    "flow.rate-limit",
    sends=f"a member sends up to {FLOOD_MESSAGES} short messages as fast as the server takes "
    f"them (for at most {FLOOD_SECONDS:.0f} s) while another member watches",
    expects=f"at most {RATE_BOUND} of them relayed in any one second; each one not relayed "
    "answered with error rate_limited, unless the flooder is closed with 1008; then a "
    "newcomer and the watcher chat",
    budget=40,
    alone=True,
    needs=("v1_rules",),
)
async def rate_limit(ctx: CaseContext) -> None:
    # 9. "it relays at most 2,000 messages of one connection in any one second ... A message
    # over the limit is not relayed, and its sender gets {"type": "error", "code":
    # "rate_limited", ...}. The server may close a connection that goes on sending over its
    # limit, with code 1008. The other members go on chatting."
    room = ctx.room()
    flooder, watcher = await ctx.join(room, label="flooder"), await ctx.join(room, label="watcher")
    for client in (flooder, watcher):
        client.trim_texts = KEEP_CHARS  # counts matter, not 5000 texts twice
    head = ctx.token("flood")
    offered = await _flood(ctx, flooder, head)
    arrivals, settled = await _relayed(ctx, watcher, flooder, head)
    refused = len(flooder.seen(lambda e: e.kind == ERROR and e.code == "rate_limited"))
    _judgeable(offered, refused, flooder)
    peak = _peak(arrivals)
    ctx.note(
        f"{len(offered)} sent, {len(arrivals)} relayed (at most {peak} in one second), "
        f"{refused} answered rate_limited"
    )
    require(
        peak <= RATE_BOUND,
        f"{peak} messages of one connection relayed within one second: no rate limit",
        f"at most {RATE_BOUND} in any one second",
        f"{len(arrivals)} of {len(offered)} relayed",
    )
    _answered(flooder, len(offered), len(arrivals), refused, settled)
    newcomer = await ctx.join(room, label="newcomer")
    text = ctx.token("alive")
    await watcher.say(text, ctx.t())
    await expect_message(ctx, newcomer, watcher, text)


async def _flood(ctx: CaseContext, flooder: Client, head: str) -> list[float]:
    """Send until FLOOD_MESSAGES, FLOOD_SECONDS or the flooder's close; the send times."""
    ctx.note(f"flooder sends up to {FLOOD_MESSAGES} messages as fast as it can")
    times: list[float] = []
    stop = time.monotonic() + ctx.t(FLOOD_SECONDS)
    for i in range(FLOOD_MESSAGES):
        if time.monotonic() > stop or not await flooder.say(f"{head}:{i}", ctx.t(5)):
            break
        times.append(time.monotonic())
    return times


async def _relayed(
    ctx: CaseContext, watcher: Client, flooder: Client, head: str
) -> tuple[list[float], bool]:
    """Arrival times at the watcher of the flooder's messages, once both have been silent for
    FLOOD_SETTLE s (settled: True; the flooder hears the refusals) or after a bounded wait
    (a server still reading: False)."""
    deadline = time.monotonic() + ctx.t(10)
    settled = False
    while not settled and time.monotonic() < deadline:
        news = await asyncio.gather(
            watcher.news(ctx.t(FLOOD_SETTLE)), flooder.news(ctx.t(FLOOD_SETTLE))
        )
        settled = not any(news)
    arrivals = [
        at
        for event, at in zip(watcher.history, watcher.arrivals, strict=True)
        if event.kind == MESSAGE
        and event.user == flooder.name
        and (event.text or "").startswith(head)
    ]
    if watcher.closed.is_set() and _peak(arrivals) <= RATE_BOUND:
        raise CaseSkipped(  # over the bound before the close is still over the bound
            f"the watcher was closed ({watcher.describe_close()}) during the flood, after "
            f"{len(arrivals)} relayed (at most {_peak(arrivals)} in one second): what else "
            "was relayed cannot be counted"
        )
    return arrivals, settled


def _peak(times: list[float], window: float = 1.0) -> int:
    """The most of `times` (sorted) within any `window` seconds."""
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] > window:
            start += 1
        most = max(most, end - start + 1)
    return most


def _judgeable(offered: list[float], refused: int, flooder: Client) -> None:
    """A server that refused nothing can only be judged if it was offered over the bound."""
    if refused or flooder.closed.is_set() or _peak(offered) > RATE_BOUND:
        return
    raise CaseSkipped(
        f"the harness sent only {_peak(offered)} messages in its fastest second, not more "
        f"than the {RATE_BOUND} the clause allows: too slow to judge (a busy machine?)"
    )


def _answered(flooder: Client, sent: int, relayed: int, refused: int, settled: bool) -> None:
    """Messages not relayed were refused out loud, or the flooder was closed with 1008."""
    if flooder.closed.is_set():
        require(
            flooder.close_code == 1008,
            "the flooder was closed, not with 1008",
            "still open, or closed with 1008",
            flooder.describe_close(),
        )
        return
    if settled:
        require(
            relayed + refused >= sent,
            f"{sent - relayed} messages neither relayed nor answered with rate_limited",
            "each message not relayed answered with error rate_limited",
            f"{relayed} relayed, {refused} rate_limited of {sent} sent",
        )
