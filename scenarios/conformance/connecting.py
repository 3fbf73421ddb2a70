"""Section 2, connecting: endpoint, default username, room ids, username sanitization."""

from __future__ import annotations

from harness.check import CaseContext, Client, is_message, is_system, scenario
from harness.profile import JOINED, LEFT, MESSAGE, OTHER, Event
from harness.protocol import DEFAULT_USERNAME
from scenarios.conformance._steps import maybe, refused, require

INVALID_ROOMS = [
    "r" * 65,
    "two words",
    "<script>",
    "semi;colon",
    "a+b",
    "tab\tid",
    "½",  # a number, not a decimal digit: str.isalnum takes it, the spec does not
    "r①",
]
XSS_NAMES = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg/onload=alert(1)>',
    "<<b>>bold",
    "\x3cscript\x3e",
    "ann</b><i>",
]
SANITIZED = [  # docs/protocol.md, section 2: the normative cases, literally
    ("  ann \t\t smith  ", "ann smith"),
    ("a&b\"c'd`e", "abcde"),
    ("x" * 40, "x" * 32),
    ("x" * 31 + "   yz", "x" * 31),
    ("\x01ctrl\x7fchars\x1b", "ctrlchars"),
    ("unit\x1fsep", "unitsep"),
    ("line\x85\xa0\u3000break", "line break"),
    ("\u202eevil\u2066", "evil"),
    ("👩\u200d💻 dev", "👩\u200d💻 dev"),
    ("<>&", "Anonymous"),
    ("ünï cødé 名前", "ünï cødé 名前"),
    (" ", "Anonymous"),
]


@scenario(
    "connect.endpoint",
    sends="a handshake at the path template with a room and a username",
    expects="HTTP 101, and the server does not close the connection right away",
)
async def endpoint(ctx: CaseContext) -> None:
    # 2. "the server accepts a WebSocket handshake at /ws/chat/{room_id}?username=NAME"
    client = await ctx.connect(ctx.room(), "ann")
    await ctx.quiet()
    require(
        not client.closed.is_set(),
        "closed right after the handshake",
        "open",
        client.describe_close(),
    )


@scenario(
    "connect.default-username",
    sends="one member joins without the username parameter, another with username=",
    expects="both are named Anonymous in `joined` and in their messages",
    needs=("v1_rules",),
)
async def default_username(ctx: CaseContext) -> None:
    # 2. "a missing or empty `username` means `Anonymous`"
    room = ctx.room()
    watcher = await ctx.join(room)
    for requested in (None, ""):
        await _named_member(ctx, watcher, room, requested, DEFAULT_USERNAME)


async def _named_member(
    ctx: CaseContext, watcher: Client, room: str, requested: str | None, name: str
) -> None:
    """A member asking for `requested` joins, talks, leaves: every event about it says `name`."""
    start = len(watcher.history)
    member = await ctx.join(room, requested, label="named")
    text = ctx.token()
    await member.say(text, ctx.t())
    got = await watcher.expect(is_message(text=text), f"the message {text!r}", ctx.t())
    require(got.kind == MESSAGE and got.user == name, f"name for username={requested!r}", name, got)
    await member.close(ctx.t())
    await maybe(ctx, watcher, is_system(name, "left"), since=start)
    about = [e for e in watcher.history[start:] if e.kind in (JOINED, LEFT)]
    wrong = [e for e in about if e.user != name]
    require(
        not wrong,
        f"joined/left name for username={requested!r}",
        f"{name} joined / {name} left",
        wrong,
    )


@scenario(
    "room.invalid",
    sends=f"handshakes for invalid room ids: {', '.join(map(repr, INVALID_ROOMS))}",
    expects="each refused: HTTP 4xx before the upgrade, or close 1008 before any event",
    needs=("v1_rules", "rooms"),
)
async def invalid_room(ctx: CaseContext) -> None:
    # 2. "a handshake for an invalid room id is refused: HTTP 403 before the upgrade, or close
    # code 1008 before any event"
    for room in INVALID_ROOMS:
        await refused(ctx, room=room)


@scenario(
    "username.no-html",
    sends=f"members named {', '.join(map(repr, XSS_NAMES))} join, say a message, leave",
    expects="no < or > in any system message or message `user` any client receives",
    needs=("usernames", "v1_rules"),  # other servers may escape names where they show them
)
async def no_html(ctx: CaseContext) -> None:
    # 2. "no `<` or `>` from a requested username ever reaches any client: not in `system`
    # events, not in the `user` field of `message` events"
    room = ctx.room()
    watcher = await ctx.join(room)
    for requested in XSS_NAMES:
        member = await ctx.join(room, requested, label="xss")
        text = ctx.token()
        await member.say(text, ctx.t())
        await watcher.expect(is_message(text=text), f"the message {text!r}", ctx.t())
        await member.close(ctx.t())
    await ctx.quiet()
    for client in ctx.clients:
        for event in client.history:
            shown = _about_members(event)
            require(
                not set(shown) & {"<", ">"},
                f"{client.label} got HTML from a username",
                "no < or >",
                event,
            )


def _about_members(event: Event) -> str:
    """What an event says about members: the user of joined/left/message, else the frame."""
    if event.kind == OTHER:
        return event.raw if isinstance(event.raw, str) else ""
    return event.user or ""


@scenario(
    "username.sanitized",
    sends=f"members named {', '.join(repr(r) for r, _ in SANITIZED)} join, say a message, leave",
    expects="`joined`, message `user` and `left` carry exactly the name of the spec's table",
    budget=45,  # each leave is awaited up to 2 s: a server that never announces one is slow
    needs=("v1_rules",),
)
async def sanitized(ctx: CaseContext) -> None:
    # 2. "The server sanitizes the requested name before anyone sees it ... The sanitized name
    # is the one used in every event about that member. ... These cases are normative"
    room = ctx.room()
    watcher = await ctx.join(room)
    for requested, shown in SANITIZED:
        await _named_member(ctx, watcher, room, requested, shown)
