"""A short scripted conversation that shows every protocol v1 event on a live server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection, connect

from harness.protocol import parse_server_event

Printer = Callable[[str], None]


class _Speaker:
    """One named client that prints every frame it sends and receives."""

    def __init__(self, ws: ClientConnection, name: str, say: Printer, timeout: float) -> None:
        self.ws, self.name, self.say, self.timeout = ws, name, say, timeout

    async def expect(self, kind: str) -> dict[str, object]:
        frame = await asyncio.wait_for(self.ws.recv(decode=True), self.timeout)
        assert isinstance(frame, str)  # decode=True: text frames come as str
        event = parse_server_event(frame)
        self.say(f"  {self.name:>6} <- {frame}")
        if event.type != kind:
            raise RuntimeError(f"{self.name} expected a {kind} event, got {frame}")
        return dict(json.loads(frame))

    async def send(self, frame: str) -> None:
        self.say(f"  {self.name:>6} -> {frame}")
        await self.ws.send(frame)


async def play(base_url: str, say: Printer = print, room: str = "demo", timeout: float = 5) -> None:
    """Play the conversation against `base_url` (ws://host:port), printing each frame."""
    url = f"{base_url}/ws/chat/{room}?username="
    async with connect(url + "alice") as a:
        alice = _Speaker(a, "alice", say, timeout)
        say("alice joins: the first frame is her welcome")
        await alice.expect("welcome")
        async with connect(url + "bob") as b:
            bob = _Speaker(b, "bob", say, timeout)
            say("bob joins: he gets a welcome counting two, alice hears that he joined")
            await bob.expect("welcome")
            await alice.expect("system")
            say("alice speaks: everyone in the room gets the message, alice included")
            await alice.send('{"text": "hello bob 👋"}')
            await alice.expect("message")
            await bob.expect("message")
            say("bob sends a frame that is not JSON: only he gets an error, the room goes on")
            await bob.send("this is not json")
            await bob.expect("error")
        say("bob leaves: alice hears that he left")
        await alice.expect("system")
