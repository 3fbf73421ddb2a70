"""Handshake policy (origin, connection limit) and the /healthz and /stats endpoints."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from reference_server.state import origin_allowed
from tests.reference_server.clients import (
    WAIT,
    chat_url,
    closed_code,
    get_json,
    join,
    recv,
    say,
)

pytestmark = pytest.mark.anyio


async def test_healthz_and_stats(reference_url: str) -> None:
    assert await get_json(reference_url, "/healthz") == {"status": "ok"}
    a = await join(reference_url, "s1", "a")
    b = await join(reference_url, "s2", "b")
    await say(a, "one")
    await recv(a)
    stats = await get_json(reference_url, "/stats")
    assert stats["rooms"] == 2 and stats["members"] == 2 and stats["connections"] == 2
    assert stats["messages_relayed"] == 1 and stats["queue_overflows"] == 0
    assert stats["connections_total"] == 2
    await a.close()
    await b.close()


async def test_foreign_origin_refused_own_and_none_accepted(reference_url: str) -> None:
    # origin.foreign
    url = chat_url(reference_url, "o", "a")
    with pytest.raises(InvalidStatus) as info:
        await asyncio.wait_for(connect(url, origin="http://evil.example"), WAIT)
    assert info.value.response.status_code == 403
    host = reference_url.removeprefix("ws://")
    own = await asyncio.wait_for(connect(url, origin=f"http://{host}"), WAIT)
    assert (await recv(own))["type"] == "welcome"
    await own.close()
    none = await asyncio.wait_for(connect(url), WAIT)
    assert (await recv(none))["type"] == "welcome"
    await none.close()


async def test_allow_listed_origin_accepted(start_server) -> None:
    url = chat_url(start_server(allowed_origins=("https://chat.example",)).url, "o", "a")
    ws = await asyncio.wait_for(connect(url, origin="https://chat.example"), WAIT)
    assert (await recv(ws))["type"] == "welcome"
    await ws.close()
    with pytest.raises(InvalidStatus):
        await asyncio.wait_for(connect(url, origin="https://other.example"), WAIT)


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "ok"),
    [
        (None, "h:1", (), True),
        ("http://h:1", "h:1", (), True),
        ("http://H:1", "h:1", (), True),
        ("http://h:2", "h:1", (), False),
        ("null", "h:1", (), False),
        ("https://a.example", "h:1", ("https://a.example/",), True),
        ("https://b.example", "h:1", ("*",), True),
    ],
)
def test_origin_rules(origin: str | None, host: str, allowed: tuple[str, ...], ok: bool) -> None:
    assert origin_allowed(origin, host, allowed) is ok


async def test_connection_limit_closes_with_1013(start_server) -> None:
    url = start_server(max_connections=2).url
    a = await join(url, "lim", "a")
    b = await join(url, "lim", "b")
    assert (await recv(a))["message"] == "b joined"
    third = await asyncio.wait_for(connect(chat_url(url, "lim", "c")), WAIT)
    assert await closed_code(third) == 1013
    await b.close()
    assert (await recv(a))["message"] == "b left"
    c = await join(url, "lim", "c")  # room again once someone left
    assert c.welcome["online"] == 2
    await a.close()
    await c.close()
