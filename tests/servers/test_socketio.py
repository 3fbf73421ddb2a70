"""The two Socket.IO chat servers, python-socketio and Node's socket.io, side by side.

With python-socketio's own client, and as raw Engine.IO v4 over a plain WebSocket, which is
how chatbench speaks to them: open packet `0{...}`, `40` / `40{"sid": ...}`, events as
`42[NAME, DATA]`, the server's ping `2` answered with `3`. The Node tests skip only when `node`
is not installed.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
import socketio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.servers.socketio_chat import running_socketio_chat
from tests.servers.socketio_node import NodeUnavailable, running_socketio_node

T = 5.0  # seconds any one event may take
ENGINE_IO = "/socket.io/?EIO=4&transport=websocket"


def start(kind: str, **pings: float) -> AbstractContextManager[str]:
    if kind == "python":
        return running_socketio_chat(**pings)
    return running_socketio_node(**pings)


@contextmanager
def serving(kind: str, **pings: float) -> Iterator[str]:
    """Yield the server's URL; skip the Node one only when node is not installed."""
    try:
        with start(kind, **pings) as url:
            yield url
    except NodeUnavailable as exc:
        if shutil.which("node") is not None:
            raise
        pytest.skip(str(exc))


@pytest.fixture(params=["python", "node"])
def chat_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with serving(request.param) as url:
        yield url


@pytest.fixture(params=["python", "node"])
def pinging_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A server that pings every second and drops a client that has not answered in one."""
    with serving(request.param, ping_interval=1, ping_timeout=1) as url:
        yield url


def client(url: str) -> socketio.SimpleClient:
    sio = socketio.SimpleClient()
    sio.connect(url, transports=["websocket"], wait_timeout=T)
    return sio


def test_two_users_chat_with_the_socketio_client(chat_url):
    ann, bob = client(chat_url), client(chat_url)
    try:
        ann.emit("add user", "ann")
        assert ann.receive(T) == ["login", {"numUsers": 1}]
        # everybody connected hears it, even a client that has not sent `add user` yet
        assert bob.receive(T) == ["user joined", {"username": "ann", "numUsers": 1}]
        bob.emit("add user", "bob")
        assert bob.receive(T) == ["login", {"numUsers": 2}]
        assert ann.receive(T) == ["user joined", {"username": "bob", "numUsers": 2}]
        bob.emit("new message", "hi ann")
        assert ann.receive(T) == ["new message", {"username": "bob", "message": "hi ann"}]
        ann.emit("typing")
        # bob's next event is ann's typing: it got no copy of its own message
        assert bob.receive(T) == ["typing", {"username": "ann"}]
        bob.disconnect()
        assert ann.receive(T) == ["user left", {"username": "bob", "numUsers": 1}]
    finally:
        ann.disconnect()
        bob.disconnect()


async def frame(ws: ClientConnection) -> str:
    got = await asyncio.wait_for(ws.recv(), T)
    assert isinstance(got, str)
    return got


async def emitted(ws: ClientConnection) -> list[Any]:
    """The next Socket.IO event, answering the server's pings on the way."""
    while (packet := await frame(ws)) == "2":
        await ws.send("3")
    assert packet.startswith("42"), packet
    return list(json.loads(packet[2:]))


async def engine_io_open(url: str) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(url + ENGINE_IO, open_timeout=T)
    opened = await frame(ws)
    assert opened.startswith("0")
    return ws, json.loads(opened[1:])


async def add_user(ws: ClientConnection, name: str) -> None:
    await ws.send("40")
    ack = await frame(ws)
    assert ack.startswith("40") and set(json.loads(ack[2:])) == {"sid"}
    await ws.send(json.dumps(["add user", name]).join(["42", ""]))


@pytest.mark.anyio
async def test_two_users_chat_over_raw_engine_io(chat_url):
    ann, opened = await engine_io_open(chat_url)
    assert opened["upgrades"] == [] and opened["pingInterval"] == 25000
    assert opened["pingTimeout"] == 20000 and isinstance(opened["sid"], str)
    async with ann, (await engine_io_open(chat_url))[0] as bob:
        await add_user(ann, "ann")
        assert await emitted(ann) == ["login", {"numUsers": 1}]
        await add_user(bob, "bob")
        assert await emitted(bob) == ["login", {"numUsers": 2}]
        assert await emitted(ann) == ["user joined", {"username": "bob", "numUsers": 2}]
        await bob.send('42["new message","hi ann"]')
        assert await emitted(ann) == ["new message", {"username": "bob", "message": "hi ann"}]
        await bob.close()
        assert await emitted(ann) == ["user left", {"username": "bob", "numUsers": 1}]


@pytest.mark.anyio
async def test_a_client_that_answers_no_ping_is_dropped_and_announced(pinging_url):
    ann, opened = await engine_io_open(pinging_url)
    assert (opened["pingInterval"], opened["pingTimeout"]) == (1000, 1000)
    async with ann, (await engine_io_open(pinging_url))[0] as bob:
        await add_user(ann, "ann")
        assert await emitted(ann) == ["login", {"numUsers": 1}]
        await add_user(bob, "bob")
        await emitted(ann)  # bob joined; from now on bob reads nothing and answers no ping
        pongs = 0
        while (packet := await frame(ann)) == "2":
            await ann.send("3")
            pongs += 1
        assert packet == '42["user left",{"username":"bob","numUsers":1}]'
        assert pongs >= 1


def send_together(ws: ClientConnection, *texts: str) -> None:
    """Write several frames in one TCP write, so the server reads them in one go."""
    for text in texts:
        ws.protocol.send_text(text.encode())
    ws.transport.write(b"".join(ws.protocol.data_to_send()))


@pytest.mark.anyio
@pytest.mark.parametrize(("kind", "accepted"), [("python", True), ("node", False)])
async def test_an_event_sent_with_the_connect_request(kind, accepted):
    """python-socketio handles `42` read together with `40`; Node closes the connection."""
    with serving(kind) as url:
        ws, _ = await engine_io_open(url)
        async with ws:
            send_together(ws, "40", '42["add user","ann"]')
            if accepted:
                assert (await frame(ws)).startswith("40{")
                assert await emitted(ws) == ["login", {"numUsers": 1}]
            else:
                with pytest.raises(ConnectionClosed):
                    await frame(ws)
