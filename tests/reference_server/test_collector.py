"""reference_server.collector: freeze while members grow, collect after heavy churn."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from reference_server import collector
from reference_server.collector import Collector


class Crowd:
    def __init__(self) -> None:
        self.open = 0
        self.departed = 0


@pytest.fixture
def crowd() -> Iterator[Crowd]:
    yield Crowd()
    gc.unfreeze()


def test_freezes_only_when_members_grew(crowd: Crowd) -> None:
    c = Collector(lambda: crowd.open, lambda: crowd.departed)
    crowd.open = 10
    c.tick()
    assert (c.freezes, gc.get_freeze_count() > 0) == (1, True)
    c.tick()  # no growth: nothing to do
    crowd.open = 9
    crowd.departed = 1
    c.tick()
    assert c.freezes == 1 and c.collections == 0
    crowd.open = 11
    c.tick()
    assert c.freezes == 2 and c.frozen_members == 11


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_frozen_cycles_are_collected_after_heavy_churn(crowd: Crowd) -> None:
    c = Collector(lambda: crowd.open, lambda: crowd.departed)
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
    assert c.collections == 1 and c.frozen_members == 0 and gc.get_freeze_count() == 0
    assert alive() is None


def test_stop_unfreezes(crowd: Crowd) -> None:
    c = Collector(lambda: crowd.open, lambda: crowd.departed)
    crowd.open = 1
    c.tick()
    c.stop()
    assert gc.get_freeze_count() == 0
