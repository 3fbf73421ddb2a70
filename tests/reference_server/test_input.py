"""Invalid input and limits (sections 7 and 8): errors for the sender, the room unharmed."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.reference_server.clients import (
    client_frame,
    closed_code,
    join,
    raw_join,
    raw_wait_closed,
    recv,
    recv_until,
    say,
    system,
)

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json {", "invalid_json"),  # input.not-json
        ("", "invalid_json"),
        ('"a string"', "invalid_message"),  # input.not-object
        ("[1, 2]", "invalid_message"),
        ("null", "invalid_message"),
        ("{}", "invalid_message"),  # input.bad-text
        ('{"text": 42}', "invalid_message"),
        ('{"text": null}', "invalid_message"),
        ('{"text": ["x"]}', "invalid_message"),
        (b"\x00\x01binary", "binary_not_supported"),  # input.binary
        (json.dumps({"text": "x" * 8193}), "text_too_long"),  # limit.text-length
    ],
)
async def test_invalid_frame_gets_error_and_room_goes_on(
    reference_url: str, frame: str | bytes, code: str
) -> None:
    # input.error-event: only the sender gets the error and its connection stays open.
    bad = await join(reference_url, "input", "bad")
    other = await join(reference_url, "input", "other")
    await recv(bad)  # other joined
    await bad.send(frame)
    error = await recv(bad)
    assert error["type"] == "error" and error["code"] == code
    assert isinstance(error["message"], str)
    await say(bad, "still here")
    relayed = {"type": "message", "user": "bad", "text": "still here", "room": "input"}
    assert await recv(other) == relayed  # the invalid frame was never relayed
    assert await recv(bad) == relayed
    await bad.close()
    await other.close()


async def test_oversize_frame_closes_sender_with_1009_only(reference_url: str) -> None:
    # limit.oversize-safe, limit.frame-size: 1 MiB frame -> 1009, others see it leave.
    big = await join(reference_url, "limits", "big", max_size=None)
    other = await join(reference_url, "limits", "other")
    await recv(big)
    await big.send(json.dumps({"text": "x" * (1 << 20)}))
    assert await closed_code(big) == 1009
    await recv_until(other, system("big left"))
    await say(other, "fine")
    assert (await recv(other))["text"] == "fine"
    again = await join(reference_url, "limits", "again")
    assert again.welcome["online"] == 2
    await again.close()
    await other.close()


async def test_frame_just_under_the_limit_is_relayed(reference_url: str) -> None:
    a = await join(reference_url, "limits2", "ada")
    text = "é" * 8192  # 16 KiB of UTF-8: within both limits
    await say(a, text)
    assert (await recv(a))["text"] == text
    await a.close()


async def test_invalid_utf8_text_frame_does_not_break_the_room(reference_url: str) -> None:
    # Not UTF-8 is a protocol error (RFC 6455 8.1: close 1007); the sender still leaves cleanly.
    other = await join(reference_url, "utf8", "other")
    sock = await raw_join(reference_url, "utf8", "bad")
    try:
        await recv_until(other, system("bad joined"))
        await asyncio.get_running_loop().sock_sendall(sock, client_frame(0x1, b"\xff\xfe"))
        await recv_until(other, system("bad left"))
        await raw_wait_closed(sock)
    finally:
        sock.close()
    await say(other, "fine")
    assert (await recv(other))["text"] == "fine"
    await other.close()
