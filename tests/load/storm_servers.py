"""Protocol v1 servers for the connect and storm tests: the fake chat server (correct without
faults) with one twist each.

- `Refusing(accept, refuse_s)`: accepts the first `accept` handshakes, then answers 503 to
  every handshake for `refuse_s` seconds (None: forever) after the first refusal: a server
  that cannot take its users back after a storm.
- `SlowWelcome(delay_s)`: sends each member's welcome `delay_s` late (a slow auth or room
  lookup): connect latency must show it.
- `Peers()`: records the address each connection came from.
"""

from __future__ import annotations

import asyncio
import time
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from tests.fakes.chat_server import FakeChatServer, _Member


class Refusing(FakeChatServer):
    """503 for every handshake after the first `accept`, for `refuse_s` s (None: forever)."""

    def __init__(self, accept: int, refuse_s: float | None) -> None:
        super().__init__(frozenset())
        self.accept, self.refuse_s = accept, refuse_s
        self.handshakes = 0
        self.first_refusal: float | None = None
        self.refused = 0

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        self.handshakes += 1
        if self.handshakes > self.accept and self._refusing(time.monotonic()):
            self.refused += 1
            return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "try again later\n")
        return super().process_request(conn, request)

    def _refusing(self, now: float) -> bool:
        if self.first_refusal is None:
            self.first_refusal = now
        return self.refuse_s is None or now - self.first_refusal < self.refuse_s


class SlowWelcome(FakeChatServer):
    """Every welcome (and the member's join) `delay_s` late."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(frozenset())
        self.delay_s = delay_s

    async def _join(self, member: _Member, online: int) -> None:
        await asyncio.sleep(self.delay_s)
        await super()._join(member, len(self.rooms.get(member.room, {})))


class Peers(FakeChatServer):
    """Records the peer (source) address of every connection."""

    def __init__(self) -> None:
        super().__init__(frozenset())
        self.peers: list[str] = []

    async def handler(self, ws: ServerConnection) -> None:
        self.peers.append(ws.remote_address[0])
        await super().handler(ws)
