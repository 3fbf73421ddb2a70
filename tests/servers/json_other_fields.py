"""A FastAPI JSON chat with rooms whose events use other field names, and no welcome.

`/chat?room=R&nick=N` (nick required, room `lobby` by default). The others in the room get
`{"event": "joined", "who": N}` and `{"event": "left", "who": N}`; a client sends
`{"say": TEXT}` and everybody in the room, the sender too, gets
`{"event": "say", "from": N, "body": TEXT, "channel": R}`. Anything else the client sends gets
it `{"event": "error", "reason": ...}`. A correct server: each connection has a bounded outbox
drained by its own writer task, so a member that stops reading never stalls the room; when its
outbox overflows it is dropped from the room (announced as left) and closed with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from tests.servers.asgi import running_asgi

OUTBOX_SIZE = 1024
"""Frames a member may have waiting (the reference server's queue_size): message.order sends
400 at once to each member, and with 256 a member whose writer fell behind on a busy CI box was
evicted as a slow consumer mid-case."""


@dataclass(eq=False)
class Member:
    """One connection: its name, its room, and the frames waiting for its writer task."""

    websocket: WebSocket
    nick: str
    room: str
    outbox: asyncio.Queue[str]
    writer: asyncio.Task[None] | None = None
    closing: set[asyncio.Task[None]] = field(default_factory=set)

    async def write_forever(self) -> None:
        """Send what the room queued, in order; ends when the connection does."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            while True:
                await self.websocket.send_text(await self.outbox.get())

    def kick(self) -> None:
        """Stop writing and close with 1008, without waiting for a peer that does not read."""
        if self.writer is not None:
            self.writer.cancel()
        task = asyncio.get_running_loop().create_task(self._close())
        self.closing.add(task)
        task.add_done_callback(self.closing.discard)

    async def _close(self) -> None:
        # uvicorn sends the close frame once the peer reads again, or gives up when the
        # connection is lost: this waits on the peer, and nobody waits on it.
        with contextlib.suppress(Exception):
            await self.websocket.close(1008, "slow consumer")


class Rooms:
    """Members by room; every event goes through each member's outbox, never a direct send."""

    def __init__(self) -> None:
        self.members: defaultdict[str, set[Member]] = defaultdict(set)

    def join(self, member: Member) -> None:
        self.publish(member.room, {"event": "joined", "who": member.nick})
        self.members[member.room].add(member)

    def leave(self, member: Member) -> None:
        room = self.members.get(member.room)
        if room is None or member not in room:
            return
        room.discard(member)
        if not room:
            del self.members[member.room]
        self.publish(member.room, {"event": "left", "who": member.nick})

    def publish(self, room: str, event: dict[str, Any]) -> None:
        frame = json.dumps(event)
        for member in list(self.members.get(room, ())):
            self.deliver(member, frame)

    def deliver(self, member: Member, frame: str) -> None:
        try:
            member.outbox.put_nowait(frame)
        except asyncio.QueueFull:
            self.leave(member)
            member.kick()

    def has(self, member: Member) -> bool:
        return member in self.members.get(member.room, ())


def said(message: dict[str, Any]) -> str | None:
    """The text of a `{"say": TEXT}` frame, None for any other frame."""
    try:
        event = json.loads(message["text"]) if message.get("text") is not None else None
    except ValueError:
        return None
    text = event.get("say") if isinstance(event, dict) else None
    return text if isinstance(text, str) else None


def create_app(outbox_size: int = OUTBOX_SIZE) -> FastAPI:
    """A fresh app with its own rooms."""
    app = FastAPI()
    rooms = Rooms()

    @app.websocket("/chat")
    async def chat(websocket: WebSocket, nick: str, room: str = "lobby") -> None:
        await websocket.accept()
        member = Member(websocket, nick, room, asyncio.Queue(outbox_size))
        member.writer = asyncio.create_task(member.write_forever())
        rooms.join(member)
        try:
            while rooms.has(member):
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                handle(member, message)
        except WebSocketDisconnect:
            pass
        finally:
            rooms.leave(member)
            member.writer.cancel()

    def handle(member: Member, message: Any) -> None:
        text = said(message)
        if text is None:
            error = {"event": "error", "reason": 'expected a text frame {"say": TEXT}'}
            rooms.deliver(member, json.dumps(error))
            return
        event = {"event": "say", "from": member.nick, "body": text, "channel": member.room}
        rooms.publish(member.room, event)

    return app


@contextmanager
def running_json_other_fields(outbox_size: int = OUTBOX_SIZE, **uvicorn: Any) -> Iterator[str]:
    """Serve it on 127.0.0.1; yields `ws://127.0.0.1:PORT` (connect to /chat?room=R&nick=N)."""
    with running_asgi(create_app(outbox_size), **uvicorn) as url:
        yield url
