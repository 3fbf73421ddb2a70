"""harness.gcfreeze: freeze what is alive each second, collect after heavy churn or swelling."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from harness import gcfreeze as collector
from harness.gcfreeze import Collector


class Crowd:
    def __init__(self) -> None:
        self.open = 0
        self.departed = 0
        self.memory = 1000

    def collector(self) -> Collector:
        return Collector(lambda: self.open, lambda: self.departed, lambda: self.memory)


@pytest.fixture
def crowd() -> Iterator[Crowd]:
    yield Crowd()
    gc.unfreeze()


def test_freezes_every_tick_and_remembers_the_most_members(crowd: Crowd) -> None:
    c = crowd.collector()
    crowd.open = 10
    c.tick()
    assert (c.freezes, gc.get_freeze_count() > 0, c.frozen_members) == (1, True, 10)
    crowd.open, crowd.departed = 9, 1
    c.tick()  # no growth: what is alive is frozen all the same
    assert (c.freezes, c.frozen_members, c.collections) == (2, 10, 0)
    crowd.open = 11
    c.tick()
    assert (c.freezes, c.frozen_members) == (3, 11)


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_frozen_cycles_are_collected_after_heavy_churn(crowd: Crowd) -> None:
    c = crowd.collector()
    crowd.open = 2 * collector.MIN_DEPARTED
    node = Node()
    alive = weakref.ref(node)
    c.tick()  # frozen
    del node
    gc.collect()
    assert alive() is not None  # frozen: no collection sees it
    crowd.departed = collector.MIN_DEPARTED  # fewer than were frozen: stays frozen
    c.tick()
    assert c.collections == 0 and alive() is not None
    crowd.departed, crowd.open = 2 * collector.MIN_DEPARTED, 0
    c.tick()
    assert c.collections == 1 and c.frozen_members == 0  # the survivors are frozen again
    assert c.last_pause > 0
    assert alive() is None


def test_what_is_allocated_once_members_stopped_growing_is_frozen_too(crowd: Crowd) -> None:
    """A member's waiting objects (its next read, its keepalive timer) are made anew as it
    talks: left to CPython's full collections, 19,600 members' made them walk 200,000 objects
    every 5 s."""
    c = crowd.collector()
    crowd.open = 10
    c.tick()
    node = Node()
    alive = weakref.ref(node)
    c.tick()  # members did not grow
    del node
    gc.collect()
    assert alive() is not None


def test_frozen_cycles_are_collected_once_memory_swells(
    crowd: Crowd, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collector, "CHECK_EVERY", 2)
    c = crowd.collector()
    crowd.open = 10
    c.tick()
    c.tick()  # the first check with no new members: the baseline
    assert (c.baseline, c.collections) == (1000, 0)
    node = Node()
    alive = weakref.ref(node)
    c.tick()  # frozen
    del node
    crowd.memory = 1250  # up by SWELL exactly: not over it
    c.tick()
    assert c.collections == 0 and alive() is not None
    crowd.memory = 1251
    c.tick()
    assert c.collections == 0  # not a check tick
    c.tick()
    assert c.collections == 1 and alive() is None
    assert c.baseline is None and c.freezes == 6  # the next check takes a new baseline
    c.tick()
    c.tick()
    assert (c.baseline, c.collections) == (1251, 1)


def test_memory_is_read_only_on_check_ticks_with_no_new_members(
    crowd: Crowd, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collector, "CHECK_EVERY", 2)
    reads: list[int] = []

    def memory() -> int:
        reads.append(1)
        return 1000

    c = Collector(lambda: crowd.open, lambda: crowd.departed, memory)
    for members in (10, 20, 30, 40):  # growing: never read, however much memory grows
        crowd.open = members
        c.tick()
    assert reads == [] and c.baseline is None and c.collections == 0
    c.tick()  # tick 5: not a check tick
    c.tick()  # tick 6, no growth: the baseline
    assert reads == [1] and c.baseline == 1000


def test_resident_bytes_is_this_process_rss() -> None:
    assert collector.resident_bytes() > 10 * 2**20


def test_stop_unfreezes(crowd: Crowd) -> None:
    c = crowd.collector()
    crowd.open = 1
    c.tick()
    c.stop()
    assert gc.get_freeze_count() == 0
