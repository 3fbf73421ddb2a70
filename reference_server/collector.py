"""The cyclic garbage collector with tens of thousands of members.

CPython's collector walks every tracked object of the generations it collects, and each
member holds a few hundred (its protocol, tasks, coroutine frames, queues, headers). While
members keep arriving, the long-lived generation keeps growing and each full collection walks
all of it: with 8,000-10,000 members they stopped the event loop for 0.4 to 2.5 s at a time
(bench part 5, docs/benchmarks.md), which every member felt as latency.

Members live long, so once a second, if there are more members than at the last freeze,
everything alive moves to the permanent generation (`gc.freeze()`, which splices lists and
costs nothing); collections then look only at what was allocated since. What is frozen is
never collected, and a departed member may leave cycles behind: once as many members have
left since the last full collection as were frozen at the last freeze (half the frozen
population is garbage, or more), the frozen objects go back to the collector and one full
collection reclaims them (`gc.unfreeze()`, `gc.collect()`), a pause as long as one of
CPython's own, only after that much churn.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

INTERVAL = 1.0
MIN_DEPARTED = 1000
"""Departures below this never trigger the full collection (a small server has little to lose)."""


class Collector:
    """Freezes what is alive while members grow, and collects after heavy churn."""

    def __init__(self, members: Callable[[], int], departed: Callable[[], int]) -> None:
        self.members = members
        self.departed = departed
        self.frozen_members = 0
        self.departed_at_collect = departed()
        self.freezes = 0
        self.collections = 0
        self._timer: asyncio.TimerHandle | None = None

    def tick(self) -> None:
        """Collect after heavy churn, else freeze if members grew."""
        open_now, departed = self.members(), self.departed()
        if departed - self.departed_at_collect >= max(MIN_DEPARTED, self.frozen_members):
            gc.unfreeze()
            gc.collect()
            self.collections += 1
            self.departed_at_collect, self.frozen_members = departed, 0
        if open_now > self.frozen_members:
            gc.freeze()
            self.freezes += 1
            self.frozen_members = open_now

    def start(self, loop: asyncio.AbstractEventLoop, interval: float = INTERVAL) -> None:
        """Tick every `interval` s on `loop` until `stop`."""

        def again() -> None:
            self.tick()
            self._timer = loop.call_later(interval, again)

        self._timer = loop.call_later(interval, again)

    def stop(self) -> None:
        """No more ticks; what is frozen goes back to the collector."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        gc.unfreeze()
