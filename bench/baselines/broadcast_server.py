"""Broadcast baseline: a plain `websockets` server fanning out with `websockets.broadcast`.

About the fastest a Python chat server gets: one serialization per message, then
`broadcast()` writes the same frame to every member's transport without awaiting anyone
(no backpressure at all: a member that stops reading just grows its write buffer). Runs on
uvloop when installed, as the reference server does under uvicorn. Protocol v1 events.

Run: python bench/baselines/broadcast_server.py --port P
"""

from __future__ import annotations

import argparse
import asyncio
import json
from urllib.parse import parse_qs, unquote, urlsplit

import websockets
from websockets.asyncio.server import ServerConnection, serve

from harness.protocol import is_valid_room_id, sanitize_username

PREFIX = "/ws/chat/"
rooms: dict[str, set[ServerConnection]] = {}


def _parse_path(path: str) -> tuple[str | None, str]:
    """Room id (None when invalid) and sanitized username from the request path."""
    parts = urlsplit(path)
    if not parts.path.startswith(PREFIX):
        return None, ""
    room = unquote(parts.path[len(PREFIX) :])
    names = parse_qs(parts.query).get("username", [""])
    return (room if is_valid_room_id(room) else None), sanitize_username(names[0])


def _event(**fields: object) -> str:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


async def handler(ws: ServerConnection) -> None:
    """One member: welcome, joined, relay each message to the room, left."""
    room, name = _parse_path(ws.request.path if ws.request else "")
    if room is None:
        await ws.close(1008, "invalid room id")
        return
    members = rooms.setdefault(room, set())
    members.add(ws)
    try:
        await ws.send(_event(type="welcome", room=room, online=len(members)))
        websockets.broadcast(members - {ws}, _event(type="system", message=f"{name} joined"))
        async for frame in ws:
            try:
                text = json.loads(frame)["text"] if isinstance(frame, str) else None
            except (ValueError, TypeError, KeyError):
                text = None
            if not isinstance(text, str):
                await ws.send(_event(type="error", code="invalid_message", message="bad frame"))
                continue
            websockets.broadcast(members, _event(type="message", user=name, text=text, room=room))
    except websockets.ConnectionClosed:
        pass
    finally:
        members.discard(ws)
        if not members:
            rooms.pop(room, None)
        websockets.broadcast(members, _event(type="system", message=f"{name} left"))


async def serve_forever(host: str, port: int) -> None:
    async with serve(handler, host, port, max_size=65536, compression=None) as server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    args = parser.parse_args()
    if not args.no_uvloop:
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
    asyncio.run(serve_forever(args.host, args.port))


if __name__ == "__main__":
    main()
