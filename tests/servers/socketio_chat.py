"""Socket.IO's own chat example (examples/chat/index.js) on python-socketio and uvicorn.

Socket.IO v4 (Engine.IO 4) at `/socket.io/`, one global room. A client emits `add user` with
its name; the server answers it `login` `{numUsers}` and tells everybody else `user joined`
`{username, numUsers}`. `new message` (a string) goes to everybody BUT the sender as
`new message` `{username, message}`; `typing` / `stop typing` go to the others as
`{username}`; when a user that was added disconnects, the others get `user left`
`{username, numUsers}`. As in the example, "everybody else" means every connected client,
added or not, and a second `add user` is ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import socketio

from tests.servers.asgi import running_asgi


def create_app(**engineio: Any) -> socketio.ASGIApp:
    """A fresh chat; `engineio` goes to socketio.AsyncServer (e.g. ping_interval=1)."""
    sio = socketio.AsyncServer(async_mode="asgi", **engineio)
    num_users = 0

    @sio.on("new message")
    async def new_message(sid: str, data: Any = None) -> None:
        session = await sio.get_session(sid)
        # we tell the other clients to execute 'new message'
        await sio.emit(
            "new message", {"username": session.get("username"), "message": data}, skip_sid=sid
        )

    @sio.on("add user")
    async def add_user(sid: str, username: Any) -> None:
        nonlocal num_users
        async with sio.session(sid) as session:
            if session.get("added"):
                return
            session["username"] = username
            session["added"] = True
        num_users += 1
        await sio.emit("login", {"numUsers": num_users}, to=sid)
        await sio.emit("user joined", {"username": username, "numUsers": num_users}, skip_sid=sid)

    @sio.on("typing")
    async def typing(sid: str, *_: Any) -> None:
        session = await sio.get_session(sid)
        await sio.emit("typing", {"username": session.get("username")}, skip_sid=sid)

    @sio.on("stop typing")
    async def stop_typing(sid: str, *_: Any) -> None:
        session = await sio.get_session(sid)
        await sio.emit("stop typing", {"username": session.get("username")}, skip_sid=sid)

    @sio.event
    async def disconnect(sid: str, reason: str) -> None:
        nonlocal num_users
        session = await sio.get_session(sid)
        if session.get("added"):
            num_users -= 1
            await sio.emit(
                "user left",
                {"username": session["username"], "numUsers": num_users},
                skip_sid=sid,
            )

    return socketio.ASGIApp(sio)


@contextmanager
def running_socketio_chat(*, timeout: float = 10.0, **engineio: Any) -> Iterator[str]:
    """Serve the chat on 127.0.0.1; yields `ws://127.0.0.1:PORT` (Socket.IO at /socket.io/).

    `engineio` goes to socketio.AsyncServer: ping_interval, ping_timeout (seconds),
    cors_allowed_origins (default: same origin only, or no Origin header at all).
    """
    with running_asgi(create_app(**engineio), timeout=timeout) as url:
        yield url
