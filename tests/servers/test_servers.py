"""Each test server, driven over real sockets: two members chat, one leaves, exact event shapes.

These pin the behaviour that the profiles in tests/servers/profiles/ describe, surprises
included (the FastAPI example's `You wrote:`, Node socket.io closing on an event sent before
its connect ack), so a profile that disagrees with its server is caught here first.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.servers.fastapi_docs import running_fastapi_docs
from tests.servers.json_other_fields import running_json_other_fields
from tests.servers.plain_text_room import running_plain_text_room
from tests.servers.relay_no_echo import running_relay_no_echo

pytestmark = pytest.mark.anyio
T = 5.0  # seconds any one event may take


async def text(ws: ClientConnection) -> str:
    frame = await asyncio.wait_for(ws.recv(), T)
    assert isinstance(frame, str)
    return frame


async def event(ws: ClientConnection) -> Any:
    return json.loads(await text(ws))


async def closed(ws: ClientConnection) -> int | None:
    """Read until the server closes; its close code."""
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), T)
    return ws.close_code


async def test_fastapi_docs_example():
    with running_fastapi_docs() as url:
        async with connect(f"{url}/ws/1") as one, connect(f"{url}/ws/2") as two:
            await two.send("hello")
            assert await text(two) == "You wrote: hello"  # before the broadcast, to it alone
            assert await text(two) == "Client #2 says: hello"
            assert await text(one) == "Client #2 says: hello"  # no welcome, no join line first
            await one.send("hi")
            assert [await text(one), await text(one)] == ["You wrote: hi", "Client #1 says: hi"]
            assert await text(two) == "Client #1 says: hi"
            await two.close()
            assert await text(one) == "Client #2 left the chat"


async def test_fastapi_docs_example_wants_an_integer_client_id():
    with running_fastapi_docs() as url:
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{url}/ws/ann", open_timeout=T)
        assert refused.value.response.status_code == 403


async def test_json_other_fields():
    with running_json_other_fields() as url:
        async with connect(f"{url}/chat?room=r&nick=ann") as ann:
            async with connect(f"{url}/chat?room=r&nick=bob") as bob:
                assert await event(ann) == {"event": "joined", "who": "bob"}
                await bob.send('{"say": "hi there"}')
                said = {"event": "say", "from": "bob", "body": "hi there", "channel": "r"}
                assert await event(bob) == said  # its own first: no welcome, and an echo
                assert await event(ann) == said
                await bob.send('{"text": "v1 style"}')
                assert (await event(bob))["event"] == "error"
            assert await event(ann) == {"event": "left", "who": "bob"}


async def test_json_other_fields_keeps_rooms_apart():
    with running_json_other_fields() as url:
        async with (
            connect(f"{url}/chat?room=r&nick=ann") as ann,
            connect(f"{url}/chat?room=elsewhere&nick=eve") as eve,
        ):
            await ann.send('{"say": "for r"}')
            assert (await event(ann))["body"] == "for r"
            await eve.send('{"say": "for elsewhere"}')
            assert await event(eve) == {
                "event": "say",
                "from": "eve",
                "body": "for elsewhere",
                "channel": "elsewhere",
            }


async def test_json_other_fields_wants_a_nick():
    with running_json_other_fields() as url:
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{url}/chat?room=r", open_timeout=T)
        assert refused.value.response.status_code == 403


async def test_relay_no_echo():
    with running_relay_no_echo() as url:
        async with connect(f"{url}/rooms/r/ws?user=ann") as ann:
            assert await event(ann) == {"type": "hello", "members": 1}
            async with connect(f"{url}/rooms/r/ws?user=bob") as bob:
                assert await event(bob) == {"type": "hello", "members": 2}
                assert await event(ann) == {"type": "presence", "user": "bob", "status": "online"}
                await bob.send('{"msg": "hi"}')
                assert await event(ann) == {"type": "msg", "user": "bob", "msg": "hi"}
                await ann.send('{"msg": "hello bob"}')
                # bob's next frame is ann's message: it never got its own "hi"
                assert await event(bob) == {"type": "msg", "user": "ann", "msg": "hello bob"}
                await bob.send('{"text": "v1 style"}')
                assert (await event(bob))["type"] == "error"
            assert await event(ann) == {"type": "presence", "user": "bob", "status": "offline"}


async def test_relay_no_echo_closes_a_sender_of_bad_json_with_1003():
    with running_relay_no_echo() as url:
        async with connect(f"{url}/rooms/r/ws?user=ann") as ann:
            await event(ann)
            async with connect(f"{url}/rooms/r/ws?user=bob") as bob:
                await event(bob), await event(ann)
                await bob.send("not json")
                assert await closed(bob) == 1003
            assert await event(ann) == {"type": "presence", "user": "bob", "status": "offline"}


async def test_plain_text_room():
    with running_plain_text_room() as url:
        async with connect(f"{url}/?name=ann") as ann:
            async with connect(f"{url}/?name=bob") as bob:
                assert await text(ann) == "* bob has joined"
                await bob.send("hi there")
                assert await text(bob) == "<bob> hi there"  # its own first: no welcome, an echo
                assert await text(ann) == "<bob> hi there"
                await bob.send(b"\x00")
                assert await text(bob) == "! text frames only"
            assert await text(ann) == "* bob has left"


@pytest.mark.parametrize(("path", "status"), [("/", 400), ("/?name=", 400), ("/chat?name=a", 404)])
async def test_plain_text_room_refuses(path, status):
    with running_plain_text_room() as url:
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{url}{path}", open_timeout=T)
        assert refused.value.response.status_code == status
