"""Protocol v1 clauses (docs/protocol.md sections 2-6) against a real reference server."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import InvalidStatus

from tests.reference_server.clients import (
    WAIT,
    assert_silent,
    chat_url,
    join,
    recv,
    recv_until,
    say,
    system,
)

pytestmark = pytest.mark.anyio


async def test_welcome_counts_members_and_others_see_joined(reference_url: str) -> None:
    # join.welcome, join.announce, join.online-count
    a = await join(reference_url, "r1", "ada")
    assert a.welcome == {"type": "welcome", "room": "r1", "online": 1}
    b = await join(reference_url, "r1", "bob")
    assert b.welcome["online"] == 2
    assert await recv(a) == {"type": "system", "message": "bob joined"}
    await say(b, "sync")
    assert (await recv(b))["text"] == "sync"  # bob got no 'bob joined' before his own message
    await b.close()
    assert (await recv_until(a, system("bob left")))[-1]["message"] == "bob left"
    c = await join(reference_url, "r1", "cy")
    assert c.welcome["online"] == 2
    await a.close()
    await c.close()


async def test_message_reaches_every_member_sender_included(reference_url: str) -> None:
    # message.broadcast, message.extra-fields
    a = await join(reference_url, "r2", "ada")
    b = await join(reference_url, "r2", "bob")
    await recv(a)  # bob joined
    await a.send(json.dumps({"text": "hello", "to": "ignored", "n": 1}))
    expected = {"type": "message", "user": "ada", "text": "hello", "room": "r2"}
    assert await recv(a) == expected
    assert await recv(b) == expected
    await a.close()
    await b.close()


@pytest.mark.parametrize(
    "text", ["", " ", "  two  spaces\n\ttab ", "café ☕ 漢字 👩‍👩‍👧", "x" * 8192, "<b>&\"'</b>"]
)
async def test_text_roundtrips_exactly(reference_url: str, text: str) -> None:
    # message.roundtrip
    a = await join(reference_url, "r3", "ada")
    await say(a, text)
    assert (await recv(a))["text"] == text
    await a.close()


async def test_concurrent_senders_keep_order_without_loss(reference_url: str) -> None:
    # message.order: 3 senders x 100 messages at once; each member sees each sender's in order.
    members = [await join(reference_url, "r4", f"u{i}") for i in range(3)]
    for i, m in enumerate(members):
        for _ in range(len(members) - 1 - i):
            await recv(m)  # joins after this member
    n = 100

    async def send_all(i: int) -> None:
        for seq in range(n):
            await say(members[i], f"{i}:{seq}")

    async def collect(m) -> dict[str, list[int]]:
        got: dict[str, list[int]] = {}
        for _ in range(n * len(members)):
            e = await recv(m)
            sender, seq = e["text"].split(":")
            assert e["user"] == f"u{sender}"
            got.setdefault(sender, []).append(int(seq))
        return got

    collectors = [asyncio.create_task(collect(m)) for m in members]
    await asyncio.gather(*(send_all(i) for i in range(len(members))))
    for got in await asyncio.wait_for(asyncio.gather(*collectors), 4 * WAIT):
        assert got == {str(i): list(range(n)) for i in range(len(members))}
    for m in members:
        await m.close()


async def test_rooms_are_isolated_and_names_exact(reference_url: str) -> None:
    # room.isolation, room.exact-name: no case folding, no Unicode normalization
    # (Å vs the Angstrom sign, the ﬁ ligature vs fi).
    rooms = [
        "Lobby",
        "lobby",
        "LOBBY",
        "\u00c5ngstr\u00f6m",
        "\u212bngstr\u00f6m",
        "\ufb01le",
        "file",
    ]
    members = [await join(reference_url, r, f"m{i}") for i, r in enumerate(rooms)]
    assert all(m.welcome["online"] == 1 for m in members)
    for i, m in enumerate(members):
        await say(m, f"to {rooms[i]}")
    for i, m in enumerate(members):
        assert await recv(m) == {
            "type": "message",
            "user": f"m{i}",
            "text": f"to {rooms[i]}",
            "room": rooms[i],
        }
        await assert_silent(m, 0.1)
    for m in members:
        await m.close()


async def test_percent_encoded_room_is_the_same_room(reference_url: str) -> None:
    a = await join(reference_url, "café", "ada")  # chat_url percent-encodes: caf%C3%A9
    from websockets.asyncio.client import connect

    b = await connect(f"{reference_url}/ws/chat/caf%C3%A9?username=bob")
    assert await recv(b) == {"type": "welcome", "room": "café", "online": 2}
    await a.close()
    await b.close()


@pytest.mark.parametrize("room", ["a b", "x" * 65, "semi;colon", "dot/slash"])
async def test_invalid_room_is_refused_with_403(reference_url: str, room: str) -> None:
    # room.invalid: HTTP 403 before the upgrade
    from websockets.asyncio.client import connect

    with pytest.raises(InvalidStatus) as info:
        await asyncio.wait_for(connect(chat_url(reference_url, room, "ada")), WAIT)
    assert info.value.response.status_code == 403


@pytest.mark.parametrize(
    ("requested", "shown"),
    [
        (None, "Anonymous"),
        ("", "Anonymous"),
        ("<script>alert(1)</script>", "scriptalert(1)/script"),
        ("<img src=x onerror=alert(1)>", "img src=x onerror=alert(1)"),
        ("  many   spaces\there  ", "many spaces here"),
        ("<>&\"'`", "Anonymous"),
        ("n" * 40, "n" * 32),
    ],
)
async def test_usernames_are_sanitized_everywhere(
    reference_url: str, requested: str | None, shown: str
) -> None:
    # connect.default-username, username.no-html, username.sanitized
    a = await join(reference_url, "names", "watcher")
    b = await join(reference_url, "names", requested)
    joined = await recv(a)
    await say(b, "hi")
    message = await recv(a)
    await b.close()
    left = await recv(a)
    assert joined["message"] == f"{shown} joined"
    assert message["user"] == shown
    assert left["message"] == f"{shown} left"
    assert not any(c in json.dumps([joined, message, left]) for c in "<>")
    await a.close()
