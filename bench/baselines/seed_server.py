"""Seed-style baseline: the FastAPI WebSocket lesson's ConnectionManager, protocol v1 events.

Faithful to the lesson on purpose: one list of connections per room and a broadcast that
awaits `send_json` for each member, one after another. A member that stops reading therefore
stalls its whole room (what `flow.slow-consumer` forbids); that is the behaviour measured.
Only the event shapes and username sanitization follow protocol v1.

Run: python bench/baselines/seed_server.py --port P
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from harness.protocol import sanitize_username


class ConnectionManager:
    """The lesson's manager: active connections per room, broadcast one send at a time."""

    def __init__(self) -> None:
        self.active_connections: dict[str, list[WebSocket]] = {}

    async def connect(self, websocket: WebSocket, room_id: str) -> None:
        await websocket.accept()
        self.active_connections.setdefault(room_id, []).append(websocket)

    def disconnect(self, websocket: WebSocket, room_id: str) -> None:
        members = self.active_connections.get(room_id, [])
        if websocket in members:
            members.remove(websocket)
        if not members:
            self.active_connections.pop(room_id, None)

    def online(self, room_id: str) -> int:
        return len(self.active_connections.get(room_id, []))

    async def broadcast(
        self, message: dict[str, Any], room_id: str, exclude: WebSocket | None = None
    ) -> None:
        for connection in list(self.active_connections.get(room_id, [])):
            if connection is not exclude:
                await connection.send_json(message)


app = FastAPI()
manager = ConnectionManager()


@app.websocket("/ws/chat/{room_id}")
async def websocket_endpoint(websocket: WebSocket, room_id: str, username: str = "") -> None:
    name = sanitize_username(username)
    await manager.connect(websocket, room_id)
    await websocket.send_json(
        {"type": "welcome", "room": room_id, "online": manager.online(room_id)}
    )
    await manager.broadcast({"type": "system", "message": f"{name} joined"}, room_id, websocket)
    try:
        while True:
            data = await websocket.receive_text()
            try:
                text = json.loads(data)["text"]
            except (ValueError, TypeError, KeyError):
                await websocket.send_json(
                    {"type": "error", "code": "invalid_message", "message": "bad frame"}
                )
                continue
            if not isinstance(text, str):
                continue
            message = {"type": "message", "user": name, "text": text, "room": room_id}
            await manager.broadcast(message, room_id)
    except WebSocketDisconnect:
        pass
    finally:
        manager.disconnect(websocket, room_id)
    await manager.broadcast({"type": "system", "message": f"{name} left"}, room_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
