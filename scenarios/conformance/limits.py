"""Section 8, limits: oversize frames and over-long texts."""

from __future__ import annotations

from harness.check import CaseContext, is_message, scenario
from harness.profile import ERROR
from harness.protocol import MAX_FRAME_BYTES, MAX_TEXT_CHARS
from harness.protocol.codec import encode_client_message
from scenarios.conformance._steps import BAD_FRAME_BUDGET, members, require, survives_bad_frames

HUGE = 2**20
OVER_FRAME = MAX_FRAME_BYTES + 4096


@scenario(
    "limit.oversize-safe",
    sends=f'a {HUGE}-character {{"text": ...}} frame (1 MiB)',
    expects="the room goes on; if the sender is closed the others see it leave (within 15 s)",
    budget=BAD_FRAME_BUDGET,
)
async def oversize_safe(ctx: CaseContext) -> None:
    # 8. "a frame over the server's limit (chatbench sends 1 MiB) does not break the room or
    # the server; if the sender is closed, the others see it leave"
    # Whether it is relayed is limit.frame-size's and limit.text-length's business.
    frame = ctx.config.protocol.encode("x" * HUGE)
    await survives_bad_frames(ctx, [frame], relay_allowed=True)


@scenario(
    "limit.frame-size",
    sends=f"a {OVER_FRAME}-byte frame",
    expects="the sender's connection is closed with code 1009",
    needs=("v1_rules",),
)
async def frame_size(ctx: CaseContext) -> None:
    # 8. "a frame over 65536 bytes closes the sender's connection with code 1009 (message too
    # big)"
    (sender,) = await members(ctx, ctx.room(), 1)
    frame = encode_client_message("y" * (OVER_FRAME - 12))
    await sender.send(frame, ctx.t())
    ended = await sender.wait_closed(ctx.t())
    observed = sender.describe_close() if ended else "still open"
    require(
        ended and sender.close_code == 1009,
        "oversize frame not closed with 1009",
        "close code 1009",
        observed,
    )


@scenario(
    "limit.text-length",
    sends=f"a text of {MAX_TEXT_CHARS + 1} characters (frame under the size limit)",
    expects="not relayed; the sender gets an error event with code text_too_long",
    needs=("v1_rules",),
)
async def text_length(ctx: CaseContext) -> None:
    # 8. "a `text` over 8192 characters in a frame within the size limit is not relayed and
    # gets an `error` event with code `text_too_long`"
    sender, other = await members(ctx, ctx.room(), 2)
    long_text = "z" * (MAX_TEXT_CHARS + 1)
    await sender.say(long_text, ctx.t())
    relayed = is_message(text=long_text)
    got = await sender.expect(lambda e: e.kind == ERROR or relayed(e), "an error event", ctx.t())
    require(
        got.kind == ERROR and got.code == "text_too_long",
        "over-long text",
        "error text_too_long",
        got,
    )
    await ctx.quiet()
    require(
        not other.seen(relayed),
        "over-long text relayed",
        "not relayed",
        f"{len(long_text)} chars relayed",
    )
