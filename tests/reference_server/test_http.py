"""Handshake policy (origin, connection limit) and the /healthz and /stats endpoints."""

from __future__ import annotations

import asyncio
import urllib.error

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
    health = await get_json(reference_url, "/healthz")
    assert health["status"] == "ok" and set(health) == {"status", "descriptors"}
    assert health["descriptors"]["limit"] >= 1024
    assert health["descriptors"]["open"] is None or health["descriptors"]["open"] > 0
    a = await join(reference_url, "s1", "a")
    b = await join(reference_url, "s2", "b")
    await say(a, "one")
    await recv(a)
    stats = await get_json(reference_url, "/stats")
    assert stats["rooms"] == 2 and stats["members"] == 2 and stats["connections"] == 2
    assert stats["messages_relayed"] == 1 and stats["queue_overflows"] == 0
    assert stats["connections_total"] == 2
    assert stats["handshakes_timed_out"] == stats["handshakes_shed"] == 0
    await a.close()
    await b.close()


async def _accepted(url: str, **kw) -> bool:
    try:
        ws = await asyncio.wait_for(connect(url, **kw), WAIT)
    except InvalidStatus as exc:
        assert exc.response.status_code == 403
        return False
    assert (await recv(ws))["type"] == "welcome"
    await ws.close()
    return True


async def test_only_configured_origins_are_accepted_by_default(reference_url: str) -> None:
    # origin.foreign: the own host is not trusted from the Host header unless opted in
    url = chat_url(reference_url, "o", "a")
    host = reference_url.removeprefix("ws://")
    assert not await _accepted(url, origin="http://evil.example")
    assert not await _accepted(url, origin=f"http://{host}")
    assert await _accepted(url)  # no Origin: not a browser


async def test_dns_rebinding_is_refused_even_with_same_host_opted_in(start_server) -> None:
    # the attack of issue 14: Host and Origin both name the attacker's host, resolved to us
    for same_host in (False, True):
        server = start_server(same_host_origin=same_host)
        port = server.port
        rebound = chat_url(f"ws://evil.example:{port}", "o", "a")
        kw = {"host": "127.0.0.1", "port": port, "proxy": None}
        accepted = await _accepted(rebound, origin=f"http://evil.example:{port}", **kw)
        assert accepted is same_host  # same_host trusts Host: hence an opt-in only
        own = chat_url(server.url, "o", "a")
        assert await _accepted(own, origin=f"http://127.0.0.1:{port}") is same_host
        assert not await _accepted(own, origin=f"ftp://127.0.0.1:{port}")


async def test_allow_listed_origin_accepted(start_server) -> None:
    server = start_server(allowed_origins=("https://chat.example", "http://b.example:8080/"))
    url = chat_url(server.url, "o", "a")
    assert await _accepted(url, origin="https://chat.example")
    assert await _accepted(url, origin="https://CHAT.example:443")
    assert await _accepted(url, origin="http://b.example:8080")
    assert not await _accepted(url, origin="https://other.example")
    assert not await _accepted(url, origin="http://chat.example")  # another scheme
    rebound = chat_url(f"ws://chat.example:{server.port}", "o", "a")
    kw = {"host": "127.0.0.1", "port": server.port, "proxy": None}
    assert not await _accepted(rebound, origin=f"http://chat.example:{server.port}", **kw)


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "same_host", "ok"),
    [
        (None, "h:1", (), False, True),
        ("http://h:1", "h:1", (), False, False),
        ("http://h:1", "h:1", (), True, True),
        ("http://H:1", "h:1", (), True, True),
        ("https://h", "h:443", (), True, True),
        ("http://h:2", "h:1", (), True, False),
        ("ftp://h:1", "h:1", (), True, False),
        ("null", "h:1", (), True, False),
        ("http://h:notaport", "h:1", (), True, False),
        ("https://a.example", "h:1", ("https://a.example/",), False, True),
        ("https://a.example:443", "h:1", ("https://a.example",), False, True),
        ("https://b.example", "h:1", ("*",), False, True),
    ],
)
def test_origin_rules(
    origin: str | None, host: str, allowed: tuple[str, ...], same_host: bool, ok: bool
) -> None:
    assert origin_allowed(origin, host, allowed, same_host) is ok


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
async def test_no_undocumented_endpoints(reference_url: str, path: str) -> None:
    # FastAPI serves these by default; a bare app shows that they would be there
    with pytest.raises(urllib.error.HTTPError) as info:
        await get_json(reference_url, path)
    info.value.close()
    assert info.value.code == 404


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


def http(ws_url: str) -> str:
    return ws_url.replace("ws://", "http://") + "/"


def test_the_chat_page_is_served_with_a_strict_policy():
    import urllib.request

    from reference_server.embedded import running_server

    with running_server() as url, urllib.request.urlopen(http(url), timeout=5) as page:
        body, policy = page.read().decode(), page.headers["Content-Security-Policy"]
    assert "<title>chatbench chat</title>" in body and "textContent" in body
    assert "innerHTML" not in body  # server text is never parsed as HTML
    assert "script-src 'sha256-" in policy and "default-src 'none'" in policy


def test_the_page_origin_is_the_socket_address_never_the_host_header():
    from reference_server.page import page_origins

    assert page_origins(("127.0.0.1", 8000)) == (
        "http://127.0.0.1:8000",
        "https://127.0.0.1:8000",
        "http://localhost:8000",
        "https://localhost:8000",
    )
    assert page_origins(("10.0.0.5", 80)) == ("http://10.0.0.5:80", "https://10.0.0.5:80")
    assert page_origins(None) == ()


async def test_metrics_are_prometheus_text_and_follow_the_chat(start_server) -> None:
    """/metrics: connections, rooms and messages relayed, parsed by prometheus_client."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families
    from websockets.asyncio.client import connect

    server = start_server()
    metrics_url = server.http_url + "/metrics"

    def scrape() -> dict[str, float]:
        with urllib.request.urlopen(metrics_url, timeout=5) as page:
            assert page.headers["Content-Type"].startswith("text/plain")
            text = page.read().decode()
        return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}

    before = scrape()
    async with connect(f"{server.url}/ws/chat/m1?username=ann", compression=None) as ws:
        await ws.recv()  # welcome
        await ws.send('{"text": "hi"}')
        await ws.recv()  # its echo: relayed
        during = scrape()
    assert (before["chatbench_connections"], during["chatbench_connections"]) == (0, 1)
    assert during["chatbench_rooms"] == 1 and during["chatbench_members"] == 1
    assert (
        during["chatbench_messages_relayed_total"] == before["chatbench_messages_relayed_total"] + 1
    )
    assert during["chatbench_connections_total"] >= 1 and "chatbench_open_fds" in during
