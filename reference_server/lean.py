"""asyncio's Event and Queue as far as a connection uses them, without their deques.

Each asyncio.Event holds a deque of waiters and each asyncio.Queue three deques, allocated up
front whether anyone ever waits: 600-700 bytes each, about 5 KiB per member across the
protocol, the member and uvicorn's receive queue (bench part 5). These keep a list, created
when someone actually waits.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


def _wake(waiters: list[asyncio.Future[None]] | None) -> None:
    for fut in waiters or ():
        if not fut.done():
            fut.set_result(None)


class Flag:
    """asyncio.Event: set, clear, is_set and wait."""

    __slots__ = ("_value", "_waiters")

    def __init__(self, value: bool = False) -> None:
        self._value = value
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        """True once set (until cleared)."""
        return self._value

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        if not self._value:
            self._value = True
            waiters, self._waiters = self._waiters, None
            _wake(waiters)

    def clear(self) -> None:
        """Unset the flag."""
        self._value = False

    async def wait(self) -> bool:
        """Return once the flag is set (True, as asyncio.Event.wait)."""
        if self._value:
            return True
        fut = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(fut)
        try:
            await fut
        finally:
            if self._waiters is not None and fut in self._waiters:
                self._waiters.remove(fut)
        return True


class Inbox(Generic[T]):
    """An unbounded asyncio.Queue: put_nowait, get, empty, qsize (first in, first out)."""

    __slots__ = ("_head", "_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._head = 0  # items before it were taken: a list, no deque, and O(1) gets
        self._waiters: list[asyncio.Future[None]] | None = None

    def qsize(self) -> int:
        """Items waiting."""
        return len(self._items) - self._head

    def empty(self) -> bool:
        """True when nothing waits."""
        return self._head >= len(self._items)

    def put_nowait(self, item: T) -> None:
        """Append `item` and wake the getters."""
        self._items.append(item)
        waiters, self._waiters = self._waiters, None
        _wake(waiters)

    async def get(self) -> T:
        """The oldest item, waiting for one."""
        while self.empty():
            fut = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if self._waiters is not None and fut in self._waiters:
                    self._waiters.remove(fut)
        item = self._items[self._head]
        self._head += 1
        if self._head >= len(self._items):
            self._items.clear()
            self._head = 0
        return item
