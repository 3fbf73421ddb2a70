"""Section 3, joining: the welcome, the announcement, the online count."""

from __future__ import annotations

from harness.check import CaseContext, ServerViolation, is_joined, is_left, scenario, show
from harness.profile import WELCOME
from scenarios.conformance._steps import claims_online, maybe, require


async def _online(ctx: CaseContext, room: str, label: str = "") -> int:
    """Join `room` and return the welcome's online count."""
    client = await ctx.join(room, label=label)
    welcome = client.welcome
    assert welcome.kind == WELCOME  # ctx.join checked it
    if welcome.online is None:
        raise ServerViolation(
            f"{client.label}: the welcome carries no member count",
            expected="a welcome with online (receive.welcome.online)",
            observed=show(welcome),
        )
    return welcome.online


@scenario(
    "join.welcome",
    sends="two members join a fresh room whose id has non-ASCII letters (percent-encoded)",
    expects='first frame {"type": "welcome", "room": ROOM, "online": 1}, then online 2',
    needs=("welcome",),
)
async def welcome(ctx: CaseContext) -> None:
    # 3. "the first frame a joiner receives is {"type": "welcome", "room": ROOM, "online": N},
    # where ROOM is the room id and N counts the members of the room including the joiner"
    room = ctx.room("-Été")
    for expected in (1, 2):
        if not claims_online(ctx):  # a welcome without a count: the first event is the clause
            await ctx.join(room)
            continue
        got = await _online(ctx, room)  # ctx.join checks the first frame and its room
        require(got == expected, f"welcome online for joiner {expected}", expected, got)


@scenario(
    "join.announce",
    sends="three members join one after the other",
    expects="earlier members get 'NAME joined' for each later one; nobody gets its own",
    needs=("announces_join",),
)
async def announce(ctx: CaseContext) -> None:
    # 3. "every other member of the room receives {"type": "system", "message": "NAME joined"};
    # the joiner does not receive its own"
    room = ctx.room()
    a = await ctx.join(room)
    b = await ctx.join(room)
    await a.expect(is_joined(b.name), f"'{b.name} joined'", ctx.t())
    c = await ctx.join(room)
    for member in (a, b):
        await member.expect(is_joined(c.name), f"'{c.name} joined'", ctx.t())
    await ctx.quiet()
    for member in (a, b, c):
        own = member.seen(is_joined(member.name))
        require(not own, f"{member.label} received its own joined", "nothing", own)


@scenario(
    "join.online-count",
    sends="three members join, one closes, another joins",
    expects="online 1, 2, 3, then 3 again for the last joiner (the one that left not counted)",
    needs=("online",),
)
async def online_count(ctx: CaseContext) -> None:
    # 3. "`online` counts exactly the members present when the joiner joined: members that
    # left (for any reason, section 6) are no longer counted"
    room = ctx.room()
    counts = [await _online(ctx, room) for _ in range(3)]
    require(counts == [1, 2, 3], "online while joining", [1, 2, 3], counts)
    first, leaver = ctx.clients[0], ctx.clients[1]
    await leaver.close(ctx.t())
    await maybe(ctx, first, is_left(leaver.name))  # then the server has seen it go
    after = await _online(ctx, room, label="late")
    require(after == 3, "online after one member left", 3, after)
