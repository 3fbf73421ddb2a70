"""The baseline servers speak protocol v1: welcome, joined, message, left, sanitized names."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import ClientConnection, connect

from bench.procs import Proc, ws_url
from bench.wsclient import chat_url
from harness.protocol import Message, System, Welcome, encode_client_message, parse_server_event

pytestmark = pytest.mark.anyio
TIMEOUT = 5


async def next_event(ws: ClientConnection) -> object:
    return parse_server_event(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def test_join_message_leave(baseline: Proc) -> None:
    base = ws_url(baseline.port)
    async with connect(chat_url(base, "lobby", "ann")) as ann:
        assert await next_event(ann) == Welcome(room="lobby", online=1)
        async with connect(chat_url(base, "lobby", "<b>bob</b>")) as bob:
            assert await next_event(bob) == Welcome(room="lobby", online=2)
            joined = await next_event(ann)
            assert isinstance(joined, System) and joined.message == "bbob/b joined"
            await bob.send(encode_client_message("héllo 👋"))
            expected = Message(user="bbob/b", text="héllo 👋", room="lobby")
            assert await next_event(bob) == expected
            assert await next_event(ann) == expected
        assert await next_event(ann) == System(message="bbob/b left")


async def test_rooms_are_isolated(baseline: Proc) -> None:
    base = ws_url(baseline.port)
    async with connect(chat_url(base, "a", "x")) as a, connect(chat_url(base, "b", "y")) as b:
        assert await next_event(a) == Welcome(room="a", online=1)
        assert await next_event(b) == Welcome(room="b", online=1)
        await a.send(encode_client_message("only a"))
        assert await next_event(a) == Message(user="x", text="only a", room="a")
        await b.send(encode_client_message("only b"))
        assert await next_event(b) == Message(user="y", text="only b", room="b")
