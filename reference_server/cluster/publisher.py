"""One connection that publishes every chat message of the process, pipelined, in call order.

A PUBLISH per message is the whole Redis cost of a message, so it must not also cost a pooled
connection per concurrent sender (hundreds of senders would exhaust any pool) or a write system
call each. Messages queue here in call order (which keeps each sender's order: a sender awaits
its previous message before sending the next) and go out in batches: one write for all the
PUBLISH commands queued meanwhile, then their replies are read in the same order.
"""

from __future__ import annotations

import asyncio
from collections import deque

from redis.asyncio.connection import AbstractConnection

MAX_BATCH = 512


class PublisherDown(Exception):
    """The publisher's connection failed; the message may not have been published."""


class Publisher:
    """Pipelined PUBLISH (or SPUBLISH) on one connection; run `run()` as a task."""

    def __init__(self, conn: AbstractConnection, command: str) -> None:
        self.conn = conn
        self.command = command
        self._queue: deque[tuple[str, str, asyncio.Future[None]]] = deque()
        self._ready = asyncio.Event()
        self._closed = False

    def publish(self, channel: str, payload: str) -> asyncio.Future[None]:
        """Queue one message; the future is done when Redis has acknowledged it."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closed:
            _fail(future)
        else:
            self._queue.append((channel, payload, future))
            self._ready.set()
        return future

    async def run(self) -> None:
        """Send queued messages in batches until the connection fails (then raise)."""
        batch: list[tuple[str, str, asyncio.Future[None]]] = []
        try:
            while True:
                if not self._queue:
                    self._ready.clear()
                    await self._ready.wait()
                    continue
                count = min(len(self._queue), MAX_BATCH)
                batch = [self._queue.popleft() for _ in range(count)]
                await self._send(batch)
                batch = []
        finally:
            self.close(batch)

    async def _send(self, batch: list[tuple[str, str, asyncio.Future[None]]]) -> None:
        conn = self.conn
        if not conn.is_connected:  # send would silently reconnect: let the link decide
            raise PublisherDown("publisher connection lost")
        commands = [(self.command, channel, payload) for channel, payload, _ in batch]
        await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
        for _, _, future in batch:
            await conn.read_response()  # socket_timeout bounds each wait
            if not future.done():
                future.set_result(None)

    def close(self, unsent: list[tuple[str, str, asyncio.Future[None]]] | None = None) -> None:
        """Fail every message not acknowledged yet; later publishes fail at once."""
        self._closed = True
        for _, _, future in [*(unsent or []), *self._queue]:
            _fail(future)
        self._queue.clear()


def _fail(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(PublisherDown("not published: the Redis link is down"))
        future.exception()  # retrieved: the sender may be gone
