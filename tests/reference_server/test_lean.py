"""reference_server.lean: Flag and Inbox behave as asyncio.Event and asyncio.Queue do."""

from __future__ import annotations

import asyncio

import pytest

from reference_server.lean import Flag, Inbox

pytestmark = pytest.mark.anyio


async def test_flag_wakes_every_waiter_and_clears() -> None:
    flag = Flag()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters) and not flag.is_set()
    flag.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [True, True, True]
    flag.clear()
    assert not flag.is_set()
    assert await asyncio.wait_for(Flag(True).wait(), 1)


async def test_flag_wait_cancelled_leaves_no_waiter() -> None:
    flag = Flag()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(flag.wait(), 0.01)
    assert not flag._waiters
    flag.set()  # nothing left to wake, nothing raised


async def test_inbox_is_first_in_first_out_and_waits() -> None:
    inbox: Inbox[int] = Inbox()
    assert inbox.empty() and inbox.qsize() == 0
    getter = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not getter.done()
    for i in range(5):
        inbox.put_nowait(i)
    assert await asyncio.wait_for(getter, 1) == 0
    assert inbox.qsize() == 4
    assert [await inbox.get() for _ in range(4)] == [1, 2, 3, 4]
    assert inbox.empty() and inbox._items == []  # drained: the list is reset
    inbox.put_nowait(9)
    assert await inbox.get() == 9
