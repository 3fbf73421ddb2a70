"""Section 4, messages: broadcast, exact round trip, order, extra fields."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from harness.check import CaseContext, Client, ServerViolation, scenario
from harness.profile import MESSAGE
from harness.protocol import MAX_TEXT_CHARS, decode_probe, encode_probe
from scenarios.conformance._steps import (
    expect_message,
    members,
    messages_from,
    receivers,
    require,
)

TEXTS = [
    "",
    " ",
    "  leading and trailing  ",
    "tabs\tand\nnew\r\nlines",
    "héllo wörld",
    "日本語のテキスト",
    "مرحبا بالعالم",
    "👋🏽🎉 emoji 👨‍👩‍👧",
    "e\u0301 vs \u00e9",
    '"quotes" \\backslash\\ {"text": 1}',
    "<b>not a name</b> &amp;",
    "x" * MAX_TEXT_CHARS,
    "é" * MAX_TEXT_CHARS,
]
SENDERS, PER_SENDER = 4, 100


@scenario(
    "message.broadcast",
    sends="three members join; the first says a message",
    expects='each of the three gets {"type": "message", "user": NAME, "text": TEXT, "room": ROOM}',
)
async def broadcast(ctx: CaseContext) -> None:
    # 4. "every member of the room, the sender included, receives {"type": "message", "user":
    # NAME, "text": TEXT, "room": ROOM} with the sender's sanitized name, the text exactly as
    # sent, and the room id"
    clients = await members(ctx, ctx.room(), 3)
    text = ctx.token()
    await clients[0].say(text, ctx.t())
    for client in receivers(ctx, clients, clients[0]):
        await expect_message(ctx, client, clients[0], text)


@scenario(
    "message.roundtrip",
    sends=f"{len(TEXTS)} texts: empty, white space, Unicode, emoji, quotes, 8192 characters",
    expects="sender and another member get every text back exactly, code point for code point",
)
async def roundtrip(ctx: CaseContext) -> None:
    # 4. "text is relayed exactly, code point for code point: Unicode, emoji, the empty string,
    # white space and texts up to 8192 characters"
    sender, other = await members(ctx, ctx.room(), 2)
    for text in TEXTS:
        await sender.say(text, ctx.t())
    for client in receivers(ctx, [sender, other], sender):
        await _collect(ctx, client, sender, TEXTS)
        got = Counter(messages_from(client, sender))
        missing, extra = Counter(TEXTS) - got, got - Counter(TEXTS)
        require(
            not missing, f"{client.label}: texts changed in transit", list(missing), list(extra)
        )


def _accounted(got: Counter[str], want: Counter[str]) -> int:
    """How many of the sent texts have an answer: the text itself, or a text never sent.

    A duplicate of a text already received answers nothing, so it cannot end the wait
    before the last text arrives (that is message.order's clause, not this one).
    """
    right = sum((got & want).values())
    altered = sum(n for text, n in got.items() if text not in want)
    return right + altered


async def _collect(ctx: CaseContext, client: Client, sender: Client, texts: list[str]) -> None:
    """Wait until every text of `texts` has an answer in `client`'s messages from `sender`."""
    want, n = Counter(texts), len(texts)
    deadline = time.monotonic() + ctx.t(5)
    while _accounted(Counter(messages_from(client, sender)), want) < n:
        try:
            await client.expect(
                lambda e: e.kind == MESSAGE, "a message", deadline - time.monotonic()
            )
        except ServerViolation:
            have = _accounted(Counter(messages_from(client, sender)), want)
            raise ServerViolation(
                f"{client.label} got {have} of {n} messages from {sender.label}",
                expected=f"{n} messages",
                observed=f"{have} messages: {messages_from(client, sender)[-3:]}",
            ) from None


@scenario(
    "message.order",
    sends=f"{SENDERS} members each send {PER_SENDER} numbered messages, all at once",
    expects="every member gets all messages once each, every sender's in the order sent",
)
async def order(ctx: CaseContext) -> None:
    # 4. "with any number of members sending at once, every member receives every message
    # sent while it was in the room exactly once, and the messages of each sender in the
    # order that sender sent them"
    clients = await members(ctx, ctx.room(), SENDERS)

    async def send_all(client: Client) -> None:
        for seq in range(PER_SENDER):
            await client.say(encode_probe(client.label, seq, time.time_ns()), ctx.t())

    await asyncio.gather(*(send_all(c) for c in clients))
    deadline = time.monotonic() + ctx.t(10)
    for client in clients:
        senders = [
            c.label for c in clients if ctx.config.protocol.behaviour.echo or c is not client
        ]
        await _await_count(client, len(senders) * PER_SENDER, deadline)
        _check_sequences(client, senders)


async def _await_count(client: Client, total: int, deadline: float) -> None:
    """Wait (until `deadline`) for `client` to hold `total` probe messages; judged later."""
    while len(_probes(client)) < total and time.monotonic() < deadline:
        try:
            await client.expect(lambda e: e.kind == MESSAGE, "", deadline - time.monotonic())
        except ServerViolation:
            if client.violation:
                raise client.violation from None
            break


def _probes(client: Client) -> list[tuple[str, int]]:
    probes = (decode_probe(e.text) for e in client.history if e.kind == MESSAGE and e.text)
    return [(p.sender, p.seq) for p in probes if p]


def _check_sequences(client: Client, senders: list[str]) -> None:
    """Each sender's numbers arrive as 0, 1, 2, ... exactly once."""
    got = _probes(client)
    for sender in senders:
        seqs = [seq for s, seq in got if s == sender]
        want = list(range(PER_SENDER))
        if seqs != want:
            closed = (
                f" (its connection ended: {client.describe_close()})"
                if client.closed.is_set()
                else ""
            )
            raise ServerViolation(
                f"{client.label}: messages of {sender} {_diagnose(seqs, want)}{closed}",
                expected=f"{sender}: 0..{PER_SENDER - 1} in order, once each",
                observed=f"{len(seqs)} received: {_first_difference(seqs, want)}{closed}",
            )


def _diagnose(seqs: list[int], want: list[int]) -> str:
    counts = Counter(seqs)
    lost = [n for n in want if n not in counts]
    dups = sorted(n for n, k in counts.items() if k > 1)
    parts = [f"lost {lost[:10]}" if lost else "", f"duplicated {dups[:10]}" if dups else ""]
    return ", ".join(p for p in parts if p) or "out of order"


def _first_difference(seqs: list[int], want: list[int]) -> str:
    for i, (a, b) in enumerate(zip(seqs, want, strict=False)):
        if a != b:
            near = slice(max(0, i - 2), i + 3)
            return f"at position {i}: {seqs[near]} (expected {want[near]})"
    return f"ends after {len(seqs)}"


@scenario(
    "message.extra-fields",
    sends='{"text": T, "user": "mallory", "room": "elsewhere", "type": "system", "extra": {...}}',
    expects="relayed as a plain message with the sender's own name and room",
    needs=("v1_rules",),
)
async def extra_fields(ctx: CaseContext) -> None:
    # 4. "unknown fields in a client message are ignored; the message is relayed as if they
    # were absent"
    sender, other = await members(ctx, ctx.room(), 2)
    text = ctx.token()
    spoof = {"user": "mallory", "room": "elsewhere", "type": "system", "extra": {"n": [1, 2]}}
    await sender.say(text, ctx.t(), **spoof)
    for client in receivers(ctx, [sender, other], sender):
        await expect_message(ctx, client, sender, text)
