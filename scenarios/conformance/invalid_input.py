"""Section 7, invalid input: frames that are not chat messages."""

from __future__ import annotations

from harness.check import CaseContext, is_message, scenario
from harness.profile import ERROR
from scenarios.conformance._steps import BAD_FRAME_BUDGET, require, survives_bad_frames

NOT_JSON = ["not json", '{"text": ', "{'text': 'single quotes'}"]
NOT_OBJECT = ["[1, 2, 3]", '"just a string"', "42", "null", '[{"text": "in an array"}]']
BAD_TEXT = ['{"text": 42}', '{"msg": "no text"}', '{"text": null}', '{"text": ["a"]}', "{}"]
BINARY = [b'{"text": "binary"}', b"\x00\xff\xfe"]
V1 = ("v1_rules",)  # what is invalid is protocol v1's to say
ROOM_GOES_ON = (
    "the frames are not relayed; if the sender is closed the other member sees it leave; "
    "the other member still chats and a newcomer can join"
)


@scenario(
    "input.not-json",
    sends=f"text frames {NOT_JSON}",
    expects=ROOM_GOES_ON,
    budget=BAD_FRAME_BUDGET,
    needs=V1,
)
async def not_json(ctx: CaseContext) -> None:
    # 7. "such a frame is never relayed, never breaks the room ... and never crashes the server"
    await survives_bad_frames(ctx, list(NOT_JSON))


@scenario(
    "input.not-object",
    sends=f"text frames {NOT_OBJECT}",
    expects=ROOM_GOES_ON,
    budget=BAD_FRAME_BUDGET,
    needs=V1,
)
async def not_object(ctx: CaseContext) -> None:
    # 7. "JSON that is not an object" is an invalid client frame: "never relayed, never breaks
    # the room"
    await survives_bad_frames(ctx, list(NOT_OBJECT))


@scenario(
    "input.bad-text",
    sends=f"text frames {BAD_TEXT}",
    expects=ROOM_GOES_ON,
    budget=BAD_FRAME_BUDGET,
    needs=V1,
)
async def bad_text(ctx: CaseContext) -> None:
    # 7. "an object whose `text` is missing or not a string" is an invalid client frame
    await survives_bad_frames(ctx, list(BAD_TEXT))


@scenario(
    "input.binary",
    sends=f"binary frames {BINARY}",
    expects=ROOM_GOES_ON,
    budget=BAD_FRAME_BUDGET,
    needs=V1,
)
async def binary(ctx: CaseContext) -> None:
    # 7. "a binary frame" is an invalid client frame: "never relayed, never breaks the room"
    await survives_bad_frames(ctx, list(BINARY))


CODES: list[tuple[str | bytes, str]] = [
    ("not json", "invalid_json"),
    ("[1, 2]", "invalid_message"),
    ('{"text": 42}', "invalid_message"),
    ('{"msg": "no text"}', "invalid_message"),
    (b"\x01\x02", "binary_not_supported"),
]


@scenario(
    "input.error-event",
    sends="one invalid frame of each kind, then a valid message",
    expects="an error event with the right code for each, to the sender only; still connected",
    needs=V1,
)
async def error_event(ctx: CaseContext) -> None:
    # 7. "the server answers an invalid frame by sending that client only {"type": "error",
    # "code": CODE, "message": TEXT} and keeps the connection open"
    room = ctx.room()
    sender, other = await ctx.join(room), await ctx.join(room)
    for frame, code in CODES:
        await sender.send(frame, ctx.t())
        got = await sender.expect(lambda e: e.kind == ERROR, f"an error event ({code})", ctx.t())
        require(got.code == code, f"error code for {frame!r}", code, got)
    text = ctx.token()
    await sender.say(text, ctx.t())
    await other.expect(is_message(text=text), "the sender's message after its errors", ctx.t())
    require(
        not sender.closed.is_set(), "the sender was closed", "still open", sender.describe_close()
    )
    await ctx.quiet()
    errors = [e for e in other.history if e.kind == ERROR]
    require(not errors, "another member received the sender's errors", "none", errors)
