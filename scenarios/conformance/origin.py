"""Section 10, Origin: cross-site WebSocket hijacking protection."""

from __future__ import annotations

import asyncio
import urllib.parse

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from harness.check import CaseContext, Client, ServerViolation, scenario
from harness.check.context import describe_handshake_error
from scenarios.conformance._steps import refused, require

FOREIGN = "https://evil.example"
REBOUND = "evil.example"
"""The attacker's host name in the DNS rebinding handshake (connected to the server's address)."""


@scenario(
    "origin.foreign",
    sends=f"handshakes with Origin: {FOREIGN}; with Origin ftp://HOST:PORT (the server's own "
    f"host and port); connected to the server's address with Host and Origin both naming "
    f"{REBOUND}:PORT (DNS rebinding, plain ws:// only); and one without Origin",
    expects="the first three refused (HTTP 403 or close 1008 before any event), the last accepted",
)
async def foreign_origin(ctx: CaseContext) -> None:
    # 10. "a handshake whose `Origin` is not one of the origins the server is configured to
    # serve is refused: HTTP 403 before the upgrade, or close code 1008 before any event.
    # Naming the host of the `Host` header does not make an origin one of them (DNS
    # rebinding, above), and no value that is not an `http` or `https` origin is one ...
    # A handshake without `Origin` is accepted."
    room = ctx.room()
    await refused(ctx, room=room, headers={"Origin": FOREIGN})
    own = urllib.parse.urlsplit(ctx.config.base(0)).netloc
    await refused(ctx, room=room, headers={"Origin": f"ftp://{own}"})
    await _rebinding_refused(ctx, room)
    if "origin" in {k.lower() for k, _ in ctx.config.headers}:
        return  # the user's own Origin goes on every handshake: none can go without
    plain = await ctx.connect(room, label="no-origin")  # a refused handshake fails here
    await ctx.quiet()
    refused_after = plain.closed.is_set() and plain.close_code == 1008 and not plain.history
    require(not refused_after, "a handshake without Origin was refused", "accepted", "close 1008")


async def _rebinding_refused(ctx: CaseContext, room: str) -> None:
    """The server's address, but Host and Origin both the attacker's name: refused."""
    base = urllib.parse.urlsplit(ctx.config.base(0))
    if base.scheme != "ws" or base.hostname is None:
        ctx.note("DNS rebinding not tried: over TLS the attacker's name fails the certificate")
        return
    port = base.port or 80
    rebound = f"{REBOUND}:{port}"
    client = await _connect_as(ctx, room, rebound, base.hostname, port)
    if client is None:
        return  # refused before the upgrade
    ended = await client.wait_closed(ctx.t())
    events = [e.raw for e in client.history[:2]]
    require(
        ended and client.close_code == 1008 and not client.history,
        f"accepted (HTTP 101) a handshake with Host and Origin {rebound} (DNS rebinding)",
        "HTTP 403 or close 1008 before any event",
        f"HTTP 101; events {events}; {client.describe_close() if ended else 'still open'}",
    )


async def _connect_as(
    ctx: CaseContext, room: str, rebound: str, address: str, port: int
) -> Client | None:
    """A handshake to `address`:`port` whose URL (so Host) names `rebound`; None if refused
    with 4xx."""
    protocol, label = ctx.config.protocol, "rebound"
    url = f"ws://{rebound}{protocol.path(room, 'ann', 0)}"
    headers = {**dict(ctx.config.headers), **dict(protocol.headers(room, "ann", 0))}
    headers["Origin"] = f"http://{rebound}"
    ctx.act()
    ctx.log.add(label, "open", f"{url} (connected to {address}:{port})")
    try:
        ws = await asyncio.wait_for(
            connect(
                url,
                host=address,
                port=port,
                additional_headers=headers,
                proxy=None,
                open_timeout=ctx.t(),
                compression=None,
                ping_interval=None,
                close_timeout=ctx.t(0.5),
            ),
            ctx.t(),
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        ctx.log.add(label, "note", f"handshake refused: HTTP {status}")
        require(
            400 <= status < 500,
            "DNS rebinding handshake not refused with 4xx",
            "HTTP 403",
            f"HTTP {status}",
        )
        return None
    except (InvalidHandshake, OSError, TimeoutError) as exc:
        raise ServerViolation(
            f"{label}: the DNS rebinding handshake failed: {describe_handshake_error(exc)}",
            expected="HTTP 403, or close 1008 before any event",
            observed=describe_handshake_error(exc),
        ) from None
    session = protocol.session(room, "ann", 0)
    client = Client(
        ws, label, room, protocol.member_name("ann", 0), ctx.log, ctx.waits, protocol, session
    )
    ctx.clients.append(client)
    await client.start(ctx.t())
    return client
