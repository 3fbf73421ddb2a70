"""The three correct servers keep the room going when a member stops reading.

A member that reads nothing (websockets stops reading the socket once `max_queue` frames wait)
is dropped from the room once its bounded outbox overflows, announced as left, and closed
with 1008; the others go on receiving. The FastAPI docs example is the opposite: its broadcast
awaits every member in turn, so the room waits for the stuck member (the fault that
`flow.slow-consumer` exists to catch) and goes on only once it reads again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Data

from tests.servers.fastapi_docs import running_fastapi_docs
from tests.servers.json_other_fields import running_json_other_fields
from tests.servers.plain_text_room import running_plain_text_room
from tests.servers.relay_no_echo import running_relay_no_echo

pytestmark = pytest.mark.anyio
T = 5.0  # seconds any one frame may take
BIG = "x" * 60_000  # a few hundred of these fill any loopback socket buffers
MAX_SENDS = 1_000
STALL = 2.0  # seconds without the next broadcast that count as a stalled room
# No permessage-deflate, which every server here offers: BIG would shrink to 140 bytes.
OPTIONS: dict[str, Any] = {"max_size": None, "compression": None}


@dataclass(frozen=True)
class Server:
    """How to reach one server and recognise the leave of `stuck`."""

    running: Callable[..., AbstractContextManager[str]]
    path: Callable[[str], str]
    frame: Callable[[str], str]
    left: Callable[[Data], bool]
    echo: bool


SERVERS = {
    "json_other_fields": Server(
        running_json_other_fields,
        lambda name: f"/chat?room=r&nick={name}",
        lambda text: json.dumps({"say": text}),
        lambda frame: json.loads(frame) == {"event": "left", "who": "stuck"},
        echo=True,
    ),
    "relay_no_echo": Server(
        running_relay_no_echo,
        lambda name: f"/rooms/r/ws?user={name}",
        lambda text: json.dumps({"msg": text}),
        lambda frame: (
            json.loads(frame) == {"type": "presence", "user": "stuck", "status": "offline"}
        ),
        echo=False,
    ),
    "plain_text_room": Server(
        running_plain_text_room,
        lambda name: f"/?name={name}",
        lambda text: text,
        lambda frame: frame == "* stuck has left",
        echo=True,
    ),
}


async def closed(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Read everything until the connection ends; the server's close code and reason."""
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), T)
    return ws.close_code, ws.close_reason


async def next_big(ws: ClientConnection, server: Server) -> bool:
    """Read up to the next BIG message; whether `stuck`'s leave came first."""
    left = False
    while len(frame := await asyncio.wait_for(ws.recv(), T)) < len(BIG):
        left = left or server.left(frame)
    return left


@pytest.mark.parametrize("name", SERVERS)
async def test_a_member_that_stops_reading_is_dropped_and_the_room_goes_on(name):
    server = SERVERS[name]
    # Outboxes larger than a burst of frames read at once (uvicorn queues up to 32, websockets
    # 16), so members that read are never dropped, and the stuck one is after a few MB.
    with server.running(outbox_size=48) as url:
        async with (
            connect(url + server.path("watcher"), **OPTIONS) as watcher,
            connect(url + server.path("stuck"), max_queue=1, **OPTIONS) as stuck,
            connect(url + server.path("sender"), **OPTIONS) as sender,
        ):
            left = False
            for _ in range(MAX_SENDS):  # in step with the watcher: it is no slow consumer
                await sender.send(server.frame(BIG))
                if server.echo:
                    await next_big(sender, server)
                if left := await next_big(watcher, server) or left:
                    break
            assert left, f"stuck was not dropped after {MAX_SENDS} messages"
            await sender.send(server.frame("after"))
            assert "after" in await asyncio.wait_for(watcher.recv(), T)  # the room goes on
            assert await closed(stuck) == (1008, "slow consumer")  # once it reads again


async def test_the_fastapi_docs_example_waits_for_a_member_that_stops_reading():
    with running_fastapi_docs() as url:
        async with (
            connect(f"{url}/ws/1", max_queue=1, **OPTIONS) as stuck,  # first in every broadcast
            connect(f"{url}/ws/2", **OPTIONS) as watcher,
            connect(f"{url}/ws/3", max_queue=None, **OPTIONS) as sender,  # reads all it gets
        ):
            for sent in range(MAX_SENDS):
                await sender.send(f"{sent} {BIG}")
                try:
                    await asyncio.wait_for(watcher.recv(), STALL)
                except TimeoutError:
                    break
            else:
                pytest.fail(f"the room never stalled in {MAX_SENDS} messages")
            stalled = f"Client #3 says: {sent} {BIG}"
            while await asyncio.wait_for(stuck.recv(), T) != stalled:
                pass  # the backlog, up to the broadcast that waits for it
            # now that the stuck member has read its backlog, the broadcast reaches the watcher
            assert await asyncio.wait_for(watcher.recv(), T) == stalled
            stuck.transport.abort()  # it reads no more, so a close handshake would take 10 s
