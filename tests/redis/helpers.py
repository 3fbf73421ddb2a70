"""Test doubles for the cluster layer: members that record frames, hubs with short timings."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import orjson

from reference_server.cluster import ClusterConfig, RedisHub

FACTOR = float(os.environ.get("CHATBENCH_TIMEOUT_FACTOR", "1"))
WAIT = 10.0 * FACTOR


def fast_config(url: str, **overrides: float | bool | str) -> ClusterConfig:
    """Short heartbeat/TTL/backoff so the tests of reaping and outages take seconds."""
    values: dict[str, float | bool | str] = dict(
        heartbeat_interval=0.2, node_ttl=1.0, reap_interval=0.2, backoff_max=0.5, op_timeout=2.0
    )
    values.update(overrides)
    return ClusterConfig(url=url, **values)  # type: ignore[arg-type]


class FakeMember:
    """A hub Recipient that keeps every frame it is given, decoded."""

    def __init__(self, name: str, room: str) -> None:
        self.name = name
        self.room = room
        self.events: list[dict[str, object]] = []
        self._changed = asyncio.Event()

    def deliver(self, frame: str, wire: bytes | None = None) -> None:
        self.events.append(orjson.loads(frame))
        self._changed.set()

    async def wait_for(self, predicate: Callable[[list[dict[str, object]]], bool]) -> None:
        """Wait until `predicate(self.events)` holds (AssertionError after WAIT seconds)."""
        try:
            async with asyncio.timeout(WAIT):
                while not predicate(self.events):
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"{self.name} never saw it; got {self.events}") from None

    async def wait_system(self, message: str) -> None:
        """Wait for `{"type": "system", "message": message}`."""
        await self.wait_for(lambda events: system(message) in events)

    def texts(self, user: str | None = None) -> list[object]:
        """Texts of the chat messages received (from `user` only, if given)."""
        return [
            e["text"]
            for e in self.events
            if e["type"] == "message" and (user is None or e["user"] == user)
        ]

    def systems(self) -> list[object]:
        """The `system` messages received, in order."""
        return [e["message"] for e in self.events if e["type"] == "system"]


def system(message: str) -> dict[str, object]:
    """The frame of a system event."""
    return {"type": "system", "message": message}


async def eventually(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll a condition of state we cannot await (a link's health) until it holds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)  # polling a condition, bounded by the timeout
    assert predicate(), what


async def started_hub(url: str, **overrides: float | bool | str) -> RedisHub:
    """A RedisHub connected to `url` (asserts it is healthy)."""
    hub = RedisHub(fast_config(url, **overrides))
    await hub.start()
    assert hub.healthy, hub.health()
    return hub
