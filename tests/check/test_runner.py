"""Verdicts are honest: a harness bug is an error (exit 3), never the server's failure."""

from __future__ import annotations

import asyncio

import pytest

from harness.check import CaseContext, CheckConfig, ServerViolation
from harness.check.context import render_path
from harness.check.registry import Case
from harness.check.runner import exit_code, run_case, run_cases
from harness.check.transcript import HEAD_ENTRIES, Transcript
from harness.protocol import clause
from tests.fakes.chat_server import running_fake

pytestmark = pytest.mark.anyio


async def _buggy(ctx: CaseContext) -> None:
    await ctx.join(ctx.room())
    raise KeyError("a bug in the harness")


async def _stuck_in_harness(ctx: CaseContext) -> None:
    await asyncio.Event().wait()  # waits on nothing the server does


async def _stuck_on_server(ctx: CaseContext) -> None:
    client = await ctx.join(ctx.room())
    await client.expect(lambda e: False, "something never sent", 60)


async def _violates(ctx: CaseContext) -> None:
    await ctx.join(ctx.room())
    raise ServerViolation("broken", expected="a", observed="b")


def _case(fn, budget=20.0) -> Case:
    return Case(clause("join.welcome"), "s", "e", fn, budget=budget)


async def test_harness_bug_is_an_error_with_traceback_and_exit_3():
    with running_fake() as url:
        result = await run_case(_case(_buggy), CheckConfig(urls=(url,)))
    assert result.verdict == "error"
    assert "harness error" in result.reason and "KeyError" in result.observed
    assert exit_code([result], strict=False) == 3


async def test_budget_spent_waiting_on_the_server_is_a_fail_else_an_error():
    with running_fake() as url:
        config = CheckConfig(urls=(url,))
        on_server = await run_case(_case(_stuck_on_server, budget=1), config)
        in_harness = await run_case(_case(_stuck_in_harness, budget=1), config)
    assert on_server.verdict == "fail" and "something never sent" in on_server.reason
    assert in_harness.verdict == "error"


async def test_a_violation_is_a_fail_with_its_transcript():
    with running_fake() as url:
        result = await run_case(_case(_violates), CheckConfig(urls=(url,)))
    assert (result.verdict, result.expected, result.observed) == ("fail", "a", "b")
    dirs = [e.dir for e in result.transcript]
    assert dirs[0] == "open" and "recv" in dirs


async def test_failures_count_over_errors_and_deadline_stops_late_cases():
    with running_fake() as url:
        config = CheckConfig(urls=(url,), deadline=0.5, concurrency=1)
        slow = Case(clause("join.announce"), "s", "e", _stuck_on_server, budget=20)
        late = Case(clause("join.online-count"), "s", "e", _violates)
        results = await run_cases([slow, late], config)
    assert [r.verdict for r in results] == ["fail", "error"]
    assert "deadline" in results[1].reason
    assert exit_code(results, strict=False) == 1


def test_render_path_encodes_and_drops_the_username():
    template = "/ws/chat/{room}?username={username}"
    assert render_path(template, "café x", "a&b") == "/ws/chat/caf%C3%A9%20x?username=a%26b"
    assert render_path(template, "r", None) == "/ws/chat/r"
    assert render_path("/chat/{room}?token=t&username={username}", "r", None) == "/chat/r?token=t"


def test_long_transcripts_keep_head_and_tail():
    log = Transcript()
    for n in range(HEAD_ENTRIES + 2000):
        log.add("c1", "recv", "x" * 1000 if n == 0 else str(n))
    entries = log.entries()
    assert entries[0].data.endswith("(1000 chars)")
    assert any("entries left out" in e.data for e in entries)
    assert entries[-1].data == str(HEAD_ENTRIES + 1999)


async def _news_beside_another_waiter(ctx: CaseContext) -> None:
    room = ctx.room()
    sender, reader = await ctx.join(room, label="a"), await ctx.join(room, label="b")
    mark = len(reader.history)
    # another waiter on the same client (flow.evict's await_seen beside its burst's watch)
    other = asyncio.ensure_future(reader.await_seen(lambda e: False, "nothing", 5))
    news = asyncio.ensure_future(reader.news(5))
    await sender.say(ctx.token("one"), 5)
    if not await news:
        raise AssertionError("news missed an event another waiter had cleared")
    # an event that came before the waiter started counts at once
    if not await reader.news(0.01, since=mark):
        raise AssertionError("news ignored an event already in history")
    other.cancel()


async def test_news_sees_an_event_beside_another_waiter():
    """CI: flow.evict's burst stalled because await_seen cleared the flag news() then read."""
    with running_fake() as url:
        result = await run_case(_case(_news_beside_another_waiter), CheckConfig(urls=(url,)))
    assert result.verdict == "pass", (result.reason, result.observed)
