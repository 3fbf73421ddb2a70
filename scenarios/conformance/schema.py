"""Section 1, transport and framing (and section 12, event schemas).

Every case validates every frame it receives; this case provokes each kind of event once.
"""

from __future__ import annotations

from harness.check import CaseContext, is_system, scenario
from scenarios.conformance._steps import expect_message, maybe, members


@scenario(
    "schema.events",
    sends="two members join, one says a message and an invalid frame, then leaves",
    expects="every frame received is a text frame holding a valid welcome/system/message/error",
)
async def every_event_valid(ctx: CaseContext) -> None:
    # 1. "every frame the server sends is a text frame with a JSON object whose `type` is one of
    # `welcome`, `system`, `message`, `error`, carrying every field listed for that type"
    a, b = await members(ctx, ctx.room(), 2)
    text = ctx.token()
    await a.say(text, ctx.t())
    await expect_message(ctx, b, a, text)
    if ctx.config.protocol.behaviour.v1_rules:  # what is invalid is protocol v1's to say
        await b.send("not json", ctx.t())  # an error event, if the server sends them
    await ctx.quiet()
    await b.close(ctx.t())
    await maybe(ctx, a, is_system(b.name, "left"))
    # The client validated each frame on arrival; the runner fails the case on any violation.
