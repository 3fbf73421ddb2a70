"""A case whose setup fails on another clause is `blocked`, named by that clause, never `fail`.

One missing welcome must not read as 29 broken clauses: `join.welcome` fails in its own case
and every case that needed a welcome to start is blocked by it. A blocked MUST still fails the
run (exit 1); a precondition that breaks after the case acted on the server is its own failure.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from harness.check import CaseContext, CheckConfig, ServerViolation
from harness.check.output import console_table, junit_xml
from harness.check.registry import Case
from harness.check.runner import exit_code, run_case
from harness.protocol import clause
from reports.conformance import render_check_html
from tests.check.helpers import check_json, closed_port, verdicts
from tests.fakes.chat_server import running_fake

pytestmark = pytest.mark.anyio


def test_no_welcome_fails_join_welcome_and_blocks_the_cases_that_need_one(tmp_path, capsys):
    only = ["join.*", "message.broadcast", "leave.clean", "origin.foreign", "connect.endpoint"]
    globs = [arg for glob in only for arg in ("--only", glob)]
    with running_fake({"no-welcome"}) as url:
        rc, results = check_json([url], tmp_path, *globs)
    table = capsys.readouterr().out
    got = verdicts(results)
    assert got["join.welcome"] == "fail"
    assert got["connect.endpoint"] == "pass"  # a handshake needs no welcome
    assert got["origin.foreign"] == "pass"  # nor does refusing one
    blocked = {c.id: c for c in results.cases if c.verdict == "blocked"}
    assert set(blocked) == {
        "join.announce",
        "join.online-count",
        "message.broadcast",
        "leave.clean",
    }
    for case in blocked.values():
        assert case.blocked_by == "join.welcome"
        assert case.reason.startswith("blocked by join.welcome:")
        assert case.transcript  # the evidence of what blocked it is kept
    assert rc == 1 and results.exit_code == 1  # a blocked MUST fails the run
    assert results.summary.blocked == 4 and results.summary.failed == 1
    assert "BLOCKED" in table and "4 blocked" in table


def _case(clause_id: str, fn) -> Case:
    return Case(clause(clause_id), "s", "e", fn)


async def _welcome_missing_after_acting(ctx: CaseContext) -> None:
    member = await ctx.join(ctx.room())
    await member.say("x", ctx.t())
    raise ServerViolation("no welcome for the newcomer", clause="join.welcome")


async def _welcome_missing_in_setup(ctx: CaseContext) -> None:
    await ctx.join(ctx.room())
    raise ServerViolation("no welcome for the second member", clause="join.welcome")


async def _other_clause_after_acting(ctx: CaseContext) -> None:
    member = await ctx.join(ctx.room())
    await member.say("x", ctx.t())
    raise ServerViolation("a frame of another room", clause="room.isolation")


async def test_a_precondition_broken_after_the_case_acted_is_the_cases_own_failure():
    with running_fake() as url:
        config = CheckConfig(urls=(url,))
        after = await run_case(_case("input.not-json", _welcome_missing_after_acting), config)
        before = await run_case(_case("input.not-json", _welcome_missing_in_setup), config)
        other = await run_case(_case("message.order", _other_clause_after_acting), config)
    assert (after.verdict, after.blocked_by) == ("fail", "")
    assert after.reason.startswith("[join.welcome]")
    assert (before.verdict, before.blocked_by) == ("blocked", "join.welcome")
    # another clause's violation never judges this clause, whenever it shows
    assert (other.verdict, other.blocked_by) == ("blocked", "room.isolation")


async def test_a_refused_handshake_during_setup_blocks_on_connect_endpoint():
    async def joins(ctx: CaseContext) -> None:
        await ctx.join(ctx.room())

    result = await run_case(_case("join.announce", joins), CheckConfig(urls=(closed_port(),)))
    assert (result.verdict, result.blocked_by) == ("blocked", "connect.endpoint")
    assert exit_code([result], strict=False) == 1


async def test_blocked_should_counts_only_with_strict_in_every_output():
    async def joins(ctx: CaseContext) -> None:
        await ctx.join(ctx.room())

    with running_fake({"no-welcome"}) as url:
        result = await run_case(_case("origin.foreign", joins), CheckConfig(urls=(url,)))
    assert result.verdict == "blocked" and result.level == "SHOULD"
    assert exit_code([result], strict=False) == 0
    assert exit_code([result], strict=True) == 1
    for strict in (False, True):
        doc = _doc([result], strict)
        node = ET.fromstring(junit_xml(doc)).find("testsuite/testcase")
        if strict:
            assert node.find("error").get("type") == "blocked"
            assert "blocked by join.welcome" in node.find("error").get("message")
        else:
            assert "SHOULD blocked" in node.find("skipped").get("message")
        row = next(line for line in console_table(doc).splitlines() if "origin.foreign" in line)
        assert ("BLOCKED" in row) == strict and ("blocked*" in row) != strict


async def test_html_title_and_classes_tell_blocked_from_failed():
    async def joins(ctx: CaseContext) -> None:
        await ctx.join(ctx.room())

    with running_fake({"no-welcome"}) as url:
        config = CheckConfig(urls=(url,))
        results = [
            await run_case(_case("join.welcome", joins), config),
            await run_case(_case("join.announce", joins), config),
        ]
    html = render_check_html(_doc(results, strict=False))
    assert "<title>chatbench check: FAILED (0 passed, 1 failed, 1 blocked)</title>" in html
    assert "class=blocked>blocked</td>" in html and "class=fail>fail</td>" in html


def _doc(cases, strict):
    from datetime import UTC, datetime

    from harness.check.runner import summarize

    config = CheckConfig(urls=("ws://x",), strict=strict)
    return summarize(cases, config, datetime.now(UTC), 1.0)


def test_a_run_that_judges_nothing_is_a_usage_error_not_green(capsys):
    from harness.cli import main

    assert main(["check", "ws://127.0.0.1:1", "--only", "shutdown.*"]) == 2
    assert "nothing to judge" in capsys.readouterr().err
