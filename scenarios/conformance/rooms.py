"""Section 5, rooms: isolation and exact room ids."""

from __future__ import annotations

from harness.check import CaseContext, Client, ServerViolation, is_message, scenario
from harness.check.context import quote
from harness.profile import JOINED, LEFT, MESSAGE, WELCOME
from scenarios.conformance._steps import expect_message, maybe, receivers, require

BURST = 20


@scenario(
    "room.isolation",
    sends=f"two members in room A and two in room B; A1 and B1 each send {BURST} messages; "
    "A2 leaves",
    expects="every member gets its own room's messages (else the case is blocked by "
    "message.broadcast); nobody receives a message, joined or left of the other room",
    needs=("rooms",),
)
async def isolation(ctx: CaseContext) -> None:
    # 5. "members receive events of their own room only"
    room_a, room_b = ctx.room(), ctx.room()
    a1, a2 = await ctx.join(room_a), await ctx.join(room_a)
    b1, b2 = await ctx.join(room_b), await ctx.join(room_b)
    for n in range(BURST):
        for sender in (a1, b1):
            await sender.say(f"{sender.room}:{n}", ctx.t())
    for sender, room in ((a1, [a1, a2]), (b1, [b1, b2])):
        for client in receivers(ctx, room, sender):
            await _own_room_delivered(ctx, client, sender)
    await a2.close(ctx.t())
    await ctx.quiet()
    for client in (b1, b2):
        _only_own_room(client, foreign=room_a, names={a1.name, a2.name})
    _only_own_room(a1, foreign=room_b, names={b1.name, b2.name})


async def _own_room_delivered(ctx: CaseContext, client: Client, sender: Client) -> None:
    """Isolation means something only if the room's own messages arrive: else it is blocked."""
    await maybe(ctx, client, is_message(text=f"{sender.room}:{BURST - 1}"), 5)
    texts = {e.text for e in client.history if e.kind == MESSAGE}
    missing = [n for n in range(BURST) if f"{sender.room}:{n}" not in texts]
    if missing:
        raise ServerViolation(
            f"{client.label} got {BURST - len(missing)} of the {BURST} messages of its own room",
            expected=f"all {BURST} messages of {sender.label}, so that isolation can be judged",
            observed=f"missing {missing[:10]}",
            clause="message.broadcast",
        )


def _only_own_room(client: Client, foreign: str, names: set[str]) -> None:
    for e in client.history:
        text = e.text or ""
        leaked = (
            e.kind == MESSAGE
            and ((e.room is not None and e.room != client.room) or text.startswith(foreign))
        ) or (e.kind in (JOINED, LEFT) and e.user in names)
        require(
            not leaked,
            f"{client.label} (room {client.room}) got an event of room {foreign}",
            "events of its own room only",
            e,
        )


@scenario(
    "room.exact-name",
    sends="members join ROOM-Lobby, ROOM-lobby, ROOM-LOBBY, ROOM-Å (U+00C5), ROOM-Å (U+212B); "
    "one more joins ROOM-Lobby spelled with %2D for '-'",
    expects="five separate rooms (welcome room exact, online 1, no cross-talk); "
    "the %2D spelling is the same room as ROOM-Lobby",
    needs=("rooms", "v1_rules"),
)
async def exact_name(ctx: CaseContext) -> None:
    # 5. "room ids that differ only in letter case or Unicode form are different rooms";
    # 2. "no case folding, no Unicode normalization ... `caf%C3%A9` and `café` are one"
    base = ctx.room()
    rooms = [f"{base}-Lobby", f"{base}-lobby", f"{base}-LOBBY", f"{base}-\u00c5", f"{base}-\u212b"]
    clients = [await ctx.join(room, exact_room=False) for room in rooms]
    for client in clients:
        welcome = client.welcome
        require(
            welcome.kind == WELCOME and welcome.room == client.room,
            "the welcome names another room",
            client.room,
            welcome,
        )
    for client in clients:
        await client.say(f"{client.room}|{ctx.token()}", ctx.t())
    spelled = quote(rooms[0]).replace("-", "%2D")  # same id, another percent-encoding
    path = ctx.config.protocol.path("ROOM", "twin", 0).replace("ROOM", spelled)
    twin = await ctx.join(rooms[0], "twin", path=path, label="twin")
    text = ctx.token()
    await twin.say(text, ctx.t())
    await expect_message(ctx, clients[0], twin, text)
    await ctx.quiet()
    for client in clients:
        texts = [e.text or "" for e in client.history if e.kind == MESSAGE]
        foreign = [t for t in texts if not t.startswith(f"{client.room}|")]
        foreign = [t for t in foreign if client is not clients[0] or t != text]
        require(
            not foreign,
            f"room {client.room!r} got messages of another room",
            "its own only",
            foreign,
        )
