"""The FastAPI documentation's WebSocket chat, "Handling disconnections and multiple clients".

Same behaviour as the docs' example: one `ConnectionManager` for everybody, plain text frames,
`/ws/{client_id}` with an integer id. On each text the sender first gets `You wrote: TEXT`,
then everybody (the sender too) gets `Client #ID says: TEXT`; a disconnect is broadcast as
`Client #ID left the chat`. There is no welcome and no join announcement.

`broadcast` awaits each connection's `send_text` in turn, as the docs do: one member that stops
reading stalls every broadcast once its socket buffers fill (the pitfall chatbench's
`flow.slow-consumer` exists for). A send that fails on a dead member raises in the *sender's*
handler, as it does in the docs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from tests.servers.asgi import running_asgi


class ConnectionManager:
    """Every open connection, in the order they connected."""

    def __init__(self) -> None:
        self.active_connections: list[WebSocket] = []

    async def connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        self.active_connections.append(websocket)

    def disconnect(self, websocket: WebSocket) -> None:
        self.active_connections.remove(websocket)

    async def send_personal_message(self, message: str, websocket: WebSocket) -> None:
        await websocket.send_text(message)

    async def broadcast(self, message: str) -> None:
        for connection in self.active_connections:
            await connection.send_text(message)


def create_app() -> FastAPI:
    """A fresh app with its own manager (the docs use one module-level `manager`)."""
    app = FastAPI()
    manager = ConnectionManager()

    @app.websocket("/ws/{client_id}")
    async def websocket_endpoint(websocket: WebSocket, client_id: int) -> None:
        await manager.connect(websocket)
        try:
            while True:
                data = await websocket.receive_text()
                await manager.send_personal_message(f"You wrote: {data}", websocket)
                await manager.broadcast(f"Client #{client_id} says: {data}")
        except WebSocketDisconnect:
            manager.disconnect(websocket)
            await manager.broadcast(f"Client #{client_id} left the chat")

    return app


@contextmanager
def running_fastapi_docs(**uvicorn: Any) -> Iterator[str]:
    """Serve the example on 127.0.0.1; yields `ws://127.0.0.1:PORT` (connect to /ws/ID)."""
    with running_asgi(create_app(), **uvicorn) as url:
        yield url
