"""Section 10, Origin: cross-site WebSocket hijacking protection."""

from __future__ import annotations

from harness.check import CaseContext, scenario
from scenarios.conformance._steps import refused, require

FOREIGN = "https://evil.example"


@scenario(
    "origin.foreign",
    sends=f"a handshake with Origin: {FOREIGN}, and one without Origin",
    expects="the foreign one refused (HTTP 403 or close 1008 before any event), the other accepted",
)
async def foreign_origin(ctx: CaseContext) -> None:
    # 10. "a handshake whose `Origin` is neither the server's own origin ... nor on its
    # allow-list is refused: HTTP 403 before the upgrade, or close code 1008 before any event.
    # A handshake without `Origin` is accepted."
    room = ctx.room()
    await refused(ctx, room=room, headers={"Origin": FOREIGN})
    if "origin" in {k.lower() for k, _ in ctx.config.headers}:
        return  # the user's own Origin goes on every handshake: none can go without
    plain = await ctx.connect(room, label="no-origin")  # a refused handshake fails here
    await ctx.quiet()
    refused_after = plain.closed.is_set() and plain.close_code == 1008 and not plain.history
    require(not refused_after, "a handshake without Origin was refused", "accepted", "close 1008")
