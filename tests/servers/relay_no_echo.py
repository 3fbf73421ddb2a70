"""A Starlette JSON relay with rooms that does not echo a message to its sender.

`/rooms/{room}/ws?user=N` (user `anonymous` by default), written as a Starlette
`WebSocketEndpoint` with `encoding = "json"`. The joiner first gets
`{"type": "hello", "members": COUNT}` (COUNT includes itself); the others get
`{"type": "presence", "user": N, "status": "online"}`, and `"offline"` when it goes. A client
sends `{"msg": TEXT}`; every OTHER member of the room gets `{"type": "msg", "user": N,
"msg": TEXT}`, the sender nothing. Valid JSON of another shape gets the sender
`{"type": "error", "reason": ...}`; a frame that is not JSON makes Starlette close the sender
with 1003 (and log the RuntimeError it raises), and it is announced offline. Each member has a
bounded outbox drained by its own writer task; one that overflows is announced offline and
closed with 1008, so a member that stops reading never stalls the room.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from tests.servers.asgi import running_asgi

OUTBOX_SIZE = 1024
"""Frames a member may have waiting (the reference server's queue_size): message.order sends
300 at once to each member (no echo), more than an outbox of 256 holds if its writer falls
behind on a busy CI box."""


class Peer:
    """One member's connection and its outbox; the writer task is the only one that sends."""

    def __init__(self, websocket: WebSocket, user: str, room: str, outbox_size: int) -> None:
        self.websocket = websocket
        self.user = user
        self.room = room
        self.outbox: asyncio.Queue[str] = asyncio.Queue(outbox_size)
        self.writer = asyncio.create_task(self._write())
        self._tasks: set[asyncio.Task[None]] = set()

    async def _write(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                await self.websocket.send_text(await self.outbox.get())

    def push(self, event: dict[str, Any]) -> bool:
        """Queue `event`; False when the outbox is full."""
        try:
            self.outbox.put_nowait(json.dumps(event))
        except asyncio.QueueFull:
            return False
        return True

    def drop(self) -> None:
        """Stop writing and close with 1008; a peer that reads nothing may never see it."""
        self.writer.cancel()
        task = asyncio.create_task(self._close())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close(self) -> None:
        # uvicorn sends the close frame once the peer reads again, or gives up when the
        # connection is lost: this waits on the peer, and nobody waits on it.
        with contextlib.suppress(Exception):
            await self.websocket.close(1008, "slow consumer")


class Relay:
    """Peers by room."""

    def __init__(self, outbox_size: int) -> None:
        self.outbox_size = outbox_size
        self.rooms: dict[str, list[Peer]] = {}

    def enter(self, websocket: WebSocket, user: str, room: str) -> Peer:
        peer = Peer(websocket, user, room, self.outbox_size)
        peers = self.rooms.setdefault(room, [])
        peers.append(peer)
        peer.push({"type": "hello", "members": len(peers)})
        self.send_others(peer, {"type": "presence", "user": user, "status": "online"})
        return peer

    def exit(self, peer: Peer) -> None:
        peers = self.rooms.get(peer.room, [])
        if peer not in peers:
            return
        peers.remove(peer)
        if not peers:
            del self.rooms[peer.room]
        self.send_others(peer, {"type": "presence", "user": peer.user, "status": "offline"})

    def send_others(self, sender: Peer, event: dict[str, Any]) -> None:
        for peer in list(self.rooms.get(sender.room, [])):
            if peer is not sender and not peer.push(event):
                self.exit(peer)
                peer.drop()


class RelayEndpoint(WebSocketEndpoint):
    """Starlette makes one of these per connection."""

    encoding = "json"
    peer: Peer | None = None

    @property
    def relay(self) -> Relay:
        return self.scope["app"].state.relay  # type: ignore[no-any-return]

    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        room = websocket.path_params["room"]
        user = websocket.query_params.get("user", "anonymous")
        self.peer = self.relay.enter(websocket, user, room)

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        peer = self.peer
        if peer is None or peer not in self.relay.rooms.get(peer.room, []):
            return  # dropped as a slow consumer: it speaks no more
        text = data.get("msg") if isinstance(data, dict) else None
        if not isinstance(text, str):
            peer.push({"type": "error", "reason": 'expected {"msg": TEXT}'})
            return
        self.relay.send_others(peer, {"type": "msg", "user": peer.user, "msg": text})

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        if self.peer is not None:
            self.relay.exit(self.peer)
            self.peer.writer.cancel()


def create_app(outbox_size: int = OUTBOX_SIZE) -> Starlette:
    """A fresh relay."""
    app = Starlette(routes=[WebSocketRoute("/rooms/{room}/ws", RelayEndpoint)])
    app.state.relay = Relay(outbox_size)
    return app


@contextmanager
def running_relay_no_echo(outbox_size: int = OUTBOX_SIZE, **uvicorn: Any) -> Iterator[str]:
    """Serve it on 127.0.0.1; yields `ws://127.0.0.1:PORT` (connect to /rooms/R/ws?user=N)."""
    with running_asgi(create_app(outbox_size), **uvicorn) as url:
        yield url
