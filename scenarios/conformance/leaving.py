"""Section 6, leaving: clean close, abrupt TCP drop, half-open silence."""

from __future__ import annotations

from harness.check import CaseContext, is_left, scenario
from scenarios.conformance._steps import LEAVE_DEADLINE, claims_online, members, require

ABRUPT_DEADLINE = LEAVE_DEADLINE
HALF_OPEN_DEADLINE = 30.0


@scenario(
    "leave.clean",
    sends="two members join; one closes with a close frame (1000)",
    expects="the other receives 'NAME left' exactly once",
    needs=("announces_leave",),
)
async def clean(ctx: CaseContext) -> None:
    # 6. "after a member closes cleanly, every remaining member receives
    # {"type": "system", "message": "NAME left"} once"
    stay, leaver = await members(ctx, ctx.room(), 2)
    await leaver.close(ctx.t())
    await stay.expect(is_left(leaver.name), f"'{leaver.name} left'", ctx.t())
    await ctx.quiet()
    count = len(stay.seen(is_left(leaver.name)))
    require(count == 1, "'left' announced more than once", 1, count)


@scenario(
    "leave.abrupt",
    sends="four members join; one drops its TCP connection with a reset (RST), another with a "
    "FIN, neither sending a close frame; one more joins",
    expects=f"both announced as left within {ABRUPT_DEADLINE:.0f} s; the next welcome counts "
    "neither",
    budget=30,
    needs=("announces_leave",),
)
async def abrupt(ctx: CaseContext) -> None:
    # 6. "after a member's TCP connection ends without a close frame (reset or FIN), every
    # remaining member receives `NAME left` within 5 seconds, and later welcomes no longer
    # count it"
    room = ctx.room()
    stay, other = await members(ctx, room, 2)
    reset = await ctx.join(room, label="rst")
    fin = await ctx.join(room, label="fin")
    reset.abort("rst")
    fin.abort("fin")
    for member in (stay, other):
        for dropped in (reset, fin):
            what = f"'{dropped.name} left' within {ctx.t(ABRUPT_DEADLINE):.1f} s"
            await member.await_seen(is_left(dropped.name), what, ctx.t(ABRUPT_DEADLINE))
    if not claims_online(ctx):
        return  # no member count: the announcements were the clause
    before = fin.welcome  # the last joiner's welcome: every member counted
    late = await ctx.join(room, label="late")
    after = late.welcome
    assert before.online is not None and after.online is not None
    require(
        after.online == before.online - 1,
        "a dropped member is still counted",
        f"online {before.online - 1} (two dropped, one joined since a welcome of {before.online})",
        after,
    )


@scenario(
    "leave.half-open",
    sends="two members join; one then neither reads nor writes (answers no pings)",
    expects=f"the silent member is announced as left within {HALF_OPEN_DEADLINE:.0f} s",
    budget=HALF_OPEN_DEADLINE + 15,
    background=True,
    needs=("announces_leave",),
)
async def half_open(ctx: CaseContext) -> None:
    # 6. "a member whose connection stays open but goes silent (it answers no pings and reads
    # nothing) is dropped and announced as left within 30 seconds"
    stay, silent = await members(ctx, ctx.room(), 2)
    silent.stop_reading()
    what = f"'{silent.name} left' within {ctx.t(HALF_OPEN_DEADLINE):.1f} s"
    await stay.expect(is_left(silent.name), what, ctx.t(HALF_OPEN_DEADLINE))
