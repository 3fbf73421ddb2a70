"""The fake server is correct without faults, and its faults do what they say."""

import asyncio

import orjson
import pytest
from websockets.asyncio.client import connect

from tests.fakes.chat_server import FAULTS, FakeChatServer, running_fake

pytestmark = pytest.mark.anyio
T = 5


async def recv(ws):
    return orjson.loads(await asyncio.wait_for(ws.recv(), T))


async def test_correct_without_faults():
    with running_fake() as url:
        async with connect(f"{url}/ws/chat/r?username=<b>ann</b>") as ann:
            assert await recv(ann) == {"type": "welcome", "room": "r", "online": 1}
            async with connect(f"{url}/ws/chat/r") as anon:
                assert (await recv(anon))["online"] == 2
                assert await recv(ann) == {"type": "system", "message": "Anonymous joined"}
                await ann.send('{"text": " hi "}')
                for ws in (ann, anon):
                    assert await recv(ws) == {
                        "type": "message",
                        "user": "bann/b",
                        "text": " hi ",
                        "room": "r",
                    }
                await anon.send("nope")
                assert (await recv(anon))["code"] == "invalid_json"
            assert await recv(ann) == {"type": "system", "message": "Anonymous left"}


async def test_loss_fault_drops_every_tenth_message_to_others():
    with running_fake({"loss"}) as url:
        async with (
            connect(f"{url}/ws/chat/r", max_queue=None) as a,
            connect(f"{url}/ws/chat/r") as b,
        ):
            await recv(a), await recv(a), await recv(b)
            for i in range(20):
                await a.send(orjson.dumps({"text": str(i)}).decode())
            got = [(await recv(b))["text"] for _ in range(18)]
            assert "9" not in got and "19" not in got
            assert len(got) == 18


async def test_ghost_on_abrupt_keeps_the_member():
    with running_fake({"ghost-on-abrupt"}) as url:
        async with connect(f"{url}/ws/chat/r") as a:
            await recv(a)
            b = await connect(f"{url}/ws/chat/r")
            await recv(b), await recv(a)
            b.transport.abort()
            async with connect(f"{url}/ws/chat/r") as c:
                assert (await recv(c))["online"] == 3


def test_unknown_fault_is_refused():
    with pytest.raises(ValueError, match="bogus"):
        FakeChatServer(frozenset({"bogus"}))
    assert "loss" in FAULTS
