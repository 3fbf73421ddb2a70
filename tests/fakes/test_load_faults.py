"""The faults the load tests use do what they say: `history` and `close-after`."""

import asyncio
import time

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from tests.fakes.chat_server import CLOSE_AFTER_S, HISTORY_MESSAGES, running_fake

pytestmark = pytest.mark.anyio
T = 5


async def recv(ws):
    return orjson.loads(await asyncio.wait_for(ws.recv(), T))


async def test_history_replays_the_last_messages_to_a_joiner_after_its_welcome():
    with running_fake({"history"}) as url:
        async with connect(f"{url}/ws/chat/r?username=a") as a:
            await recv(a)
            for i in range(HISTORY_MESSAGES + 3):
                await a.send(orjson.dumps({"text": str(i)}).decode())
            for _ in range(HISTORY_MESSAGES + 3):
                await recv(a)
            async with connect(f"{url}/ws/chat/r?username=b") as b:
                assert (await recv(b))["type"] == "welcome"
                texts = [(await recv(b))["text"] for _ in range(HISTORY_MESSAGES)]
    assert texts == [str(i) for i in range(3, HISTORY_MESSAGES + 3)]


async def test_close_after_closes_every_member_with_1011():
    with running_fake({"close-after"}) as url:
        async with connect(f"{url}/ws/chat/r?username=a") as a:
            start = time.monotonic()
            await recv(a)
            with pytest.raises(ConnectionClosedError) as exc:
                await asyncio.wait_for(a.recv(), CLOSE_AFTER_S + T)
            assert exc.value.rcvd is not None and exc.value.rcvd.code == 1011
            assert time.monotonic() - start >= CLOSE_AFTER_S * 0.9
