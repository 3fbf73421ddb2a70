"""The cyclic garbage collector with tens of thousands of connections.

Used by the reference server (its members) and by the load generator (its users): both hold
tens of thousands of long-lived connections of a few hundred objects each.

CPython's collector walks every tracked object of the generations it collects. While
connections keep arriving, the long-lived generation keeps growing and each full collection
walks all of it: with 8,000-10,000 members the server's stopped the event loop for 0.4 to
2.5 s at a time, the generator's for up to 1.65 s (bench part 5, docs/benchmarks.md), which
every member felt, or was measured to feel, as latency.

So once a second everything alive moves to the permanent generation (`gc.freeze()`, which
splices lists and costs nothing); collections then look only at what was allocated since.
This goes on once connections stop arriving: each also keeps a dozen objects that wait for
its next frame (the coroutines of the server's next read, a keepalive timer and its context,
a future), replaced each time it talks or is pinged, so they live seconds, pile up in the
oldest generation and made CPython's own full collections walk 200,000 of them every 5 s at
19,600 members (160-280 ms each, the p99 spikes of part 5).

What is frozen is never collected, so a cycle that became garbage stays. Two things send the
frozen objects back to the collector for one full collection (`gc.unfreeze()`,
`gc.collect()`, a pause as long as one of CPython's own): as many connections having ended
since the last full collection as were frozen (half the frozen population is garbage, or
more), or, checked every `CHECK_EVERY` ticks while connections do not grow, the process's memory
having grown by `SWELL` over what it was at the first such check (garbage cycles of the
traffic itself, frozen while they were still alive). Memory, not a count of the frozen
objects: `gc.get_freeze_count()` walks them all (70-80 ms for 2.1 million scattered over a
heap in a micro-benchmark), and two 19,600-member runs that counted them once at their 60th
second had a 0.2 s stall there, which went with the count.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable

import psutil

INTERVAL = 1.0
MIN_DEPARTED = 1000
"""Ended connections below this never trigger the full collection (a small process has little
to lose)."""
CHECK_EVERY = 10
"""Ticks between readings of the process's memory (RSS)."""
SWELL = 1.25
"""Memory over its baseline, members unchanged, that calls for a full collection."""


def resident_bytes() -> int:
    """This process's resident memory (one read of /proc/self/statm on Linux)."""
    return int(psutil.Process().memory_info().rss)


class Collector:
    """Freezes what is alive each second, and collects after heavy churn or swelling."""

    def __init__(
        self,
        members: Callable[[], int],
        departed: Callable[[], int],
        memory: Callable[[], int] = resident_bytes,
    ) -> None:
        self.members = members
        self.departed = departed
        self.memory = memory
        self.frozen_members = 0
        """The most members open since the last full collection."""
        self.departed_at_collect = departed()
        self.baseline: int | None = None
        """Memory at the first check after members last grew or were collected."""
        self.ticks = 0
        self.freezes = 0
        self.collections = 0
        self.last_pause = 0.0
        """Seconds the last full collection took (the process did nothing else meanwhile)."""
        self._timer: asyncio.TimerHandle | None = None

    def tick(self) -> None:
        """Collect after heavy churn or swelling, then freeze what is alive."""
        self.ticks += 1
        open_now, departed = self.members(), self.departed()
        churned = departed - self.departed_at_collect >= max(MIN_DEPARTED, self.frozen_members)
        if churned or self._swollen(open_now):
            began = time.perf_counter()
            gc.unfreeze()
            gc.collect()
            self.last_pause = time.perf_counter() - began
            self.collections += 1
            self.departed_at_collect, self.frozen_members, self.baseline = departed, 0, None
        if open_now > self.frozen_members:
            self.frozen_members, self.baseline = open_now, None
        gc.freeze()
        self.freezes += 1

    def _swollen(self, open_now: int) -> bool:
        """Every CHECK_EVERY ticks with no new members: memory over SWELL x the baseline (the
        first such check only takes the baseline)."""
        if self.ticks % CHECK_EVERY or open_now > self.frozen_members:
            return False
        now = self.memory()
        if self.baseline is None:
            self.baseline = now
            return False
        return now > SWELL * self.baseline

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
