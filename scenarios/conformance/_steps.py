"""Steps several conformance cases share: checking event fields, surviving bad frames."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from harness.check import CaseContext, Client, ServerViolation, is_left, is_message
from harness.check.claims import not_applicable
from harness.profile import MESSAGE, Event

LEAVE_DEADLINE = 5.0
"""Seconds for `NAME left` once a member's connection ended: the spec's own bound
(`leave.abrupt`)."""
CLOSE_HANDSHAKE = 10.0
"""Seconds a server may spend on a close handshake its client cannot complete (a reply stuck
behind an unread 1 MiB frame): websockets' default close timeout (section 7)."""
BAD_FRAME_BUDGET = 30.0
"""Case budget for `survives_bad_frames`: it may wait out a close handshake."""


def show(value: Any) -> str:
    """A JSON rendering for expected/observed (events as the frames they came in)."""
    return json.dumps(value, ensure_ascii=False, default=_frame)


def _frame(value: Any) -> Any:
    if isinstance(value, Event):
        raw = value.raw
        return raw if isinstance(raw, str) else repr(raw)
    return repr(value)


def claims_online(ctx: CaseContext) -> bool:
    """Whether the server's welcome counts the members (`online`)."""
    return not_applicable(("online",), ctx.config.protocol) == ""


def receivers(ctx: CaseContext, clients: list[Client], sender: Client) -> list[Client]:
    """The members that get `sender`'s messages: all, or all but it when the server does
    not echo (behaviour.echo = false)."""
    echo = ctx.config.protocol.behaviour.echo
    return [c for c in clients if echo or c is not sender]


def require(ok: bool, reason: str, expected: Any = "", observed: Any = "") -> None:
    """Raise ServerViolation(reason) unless `ok`."""
    if not ok:
        exp = expected if isinstance(expected, str) else show(expected)
        obs = observed if isinstance(observed, str) else show(observed)
        raise ServerViolation(reason, expected=exp, observed=obs)


async def expect_message(ctx: CaseContext, client: Client, sender: Client, text: str) -> Event:
    """`client` receives the message `text` from `sender`: its user the sender's name, its
    room the sender's (when the profile reads a room)."""
    what = f"the message {text[:40]!r} from {sender.label}"
    event = await client.expect(is_message(text=text), what, ctx.t())
    want = {"user": sender.name, "text": text}
    if event.room is not None and ctx.config.protocol.rooms:
        want["room"] = sender.room
    got = {k: getattr(event, k) for k in want}
    require(got == want, f"{client.label}: message fields differ", want, {**got, "frame": event})
    return event


async def members(ctx: CaseContext, room: str, n: int, **kwargs: Any) -> list[Client]:
    """`n` members joined to `room` one after the other."""
    return [await ctx.join(room, **kwargs) for _ in range(n)]


async def maybe(
    ctx: CaseContext, client: Client, match: Any, seconds: float = 2.0, since: int = 0
) -> bool:
    """Wait up to `seconds` for an event another clause judges; True when it came."""
    try:
        await client.await_seen(match, "", ctx.t(seconds), since)
    except ServerViolation:
        if client.violation:
            raise client.violation from None
        return False
    return True


def messages_from(client: Client, sender: Client) -> list[str]:
    """Texts of the messages `client` received from `sender` so far."""
    return [
        e.text
        for e in client.history
        if e.kind == MESSAGE and e.user == sender.name and e.text is not None
    ]


async def survives_bad_frames(
    ctx: CaseContext, frames: list[str | bytes], relay_allowed: bool = False
) -> None:
    """Section 7/8: the frames are not relayed (unless allowed), the room goes on, the server
    lives.

    "such a frame is never relayed, never breaks the room (the other members go on chatting),
    and never crashes the server. If the server closes the sender's connection because of it,
    the other members see `NAME left`"
    """
    room = ctx.room()
    bad, other = await members(ctx, room, 2)
    for frame in frames:
        await bad.send(frame, ctx.t())
    marker = ctx.token("after")
    await bad.say(marker, ctx.t())  # frames are handled in order: this shows if bad is still in
    if await _still_member(ctx, bad, other, marker):
        await expect_message(ctx, other, bad, marker)
    elif ctx.config.protocol.behaviour.announces_leave:
        # 7. "If the server closes the sender's connection because of it, the other members
        # see `NAME left`": within the close handshake's time plus leave.abrupt's bound
        wait = ctx.t(CLOSE_HANDSHAKE + LEAVE_DEADLINE)
        what = f"'{bad.name} left' within {wait:.1f} s of its close"
        await other.expect(is_left(bad.name), what, wait)
    relayed = [t for t in messages_from(other, bad) if t != marker]
    if not relay_allowed:
        require(not relayed, "an invalid frame was relayed", "nothing relayed", relayed)
    newcomer = await ctx.join(room, label="newcomer")  # the server still accepts members
    text = ctx.token("room-alive")
    await other.say(text, ctx.t())
    await expect_message(ctx, newcomer, other, text)


async def _still_member(ctx: CaseContext, client: Client, other: Client, marker: str) -> bool:
    """True when `other` gets `client`'s `marker`, False when `client`'s connection ends first."""
    got = asyncio.ensure_future(other.await_seen(is_message(text=marker), "marker", ctx.t()))
    ended = asyncio.ensure_future(client.closed.wait())
    try:
        await asyncio.wait({got, ended}, timeout=ctx.t(), return_when=asyncio.FIRST_COMPLETED)
    finally:
        ended.cancel()
    if got.done() and not got.cancelled() and got.exception() is None:
        return True
    got.cancel()
    if client.closed.is_set():
        return False
    raise ServerViolation(
        f"{client.label}: neither was its message {marker!r} relayed nor was it closed",
        expected="the sender is still a member (its message relayed) or is closed",
        observed="nothing within the wait",
    )


async def refused(ctx: CaseContext, room: str, headers: dict[str, str] | None = None) -> None:
    """Section 2/10 refusal: 4xx before the upgrade or close 1008 before any event."""
    ctx.act()  # a handshake meant to be refused is this case's action, not its setup
    try:
        client = await ctx.connect(room, "ann", headers=headers)
    except ServerViolation as v:
        require(
            "HTTP 4" in v.observed,
            f"handshake for {room!r} not refused with 4xx",
            "HTTP 403",
            v.observed,
        )
        return
    ended = await client.wait_closed(ctx.t())
    refused = ended and client.close_code == 1008 and not client.history
    observed = _observed_after_accept(client, ended)
    require(
        refused,
        f"accepted (HTTP 101) room {room!r} headers {headers}",
        "HTTP 403 or close 1008 before any event",
        observed,
    )


def _observed_after_accept(client: Client, ended: bool) -> str:
    events = [show(e) for e in client.history[:2]]
    end = client.describe_close() if ended else "still open"
    return f"HTTP 101; events {events}; {end}"
