"""`chatbench profile list` and `chatbench profile check FILE [URL]`: write a profile fast.

`check` validates a profile (errors name the key and the file line) and, given a URL, probes
the server the way `chatbench check` would: two members connect, one says a message, the
other leaves; then it prints, for each event kind, what it saw and which frame it was, and the
frames it could not read. Exit 0 when the profile is valid and (with a URL) every event the
profile claims was seen; 1 when the server did not send what the profile claims; 2 for a
profile that does not load or a server that cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from collections import defaultdict
from typing import Any

from harness import validate
from harness.check.client import Client, show
from harness.check.context import CaseContext, CheckConfig
from harness.check.verdicts import ServerViolation
from harness.errors import UnreachableError
from harness.profile import (
    JOINED,
    KINDS,
    LEFT,
    MESSAGE,
    WELCOME,
    ChatProtocol,
    Event,
    builtin_names,
    describe,
    load_profile,
)

WATCH_S = 1.5


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the subcommand and its two actions."""
    p: argparse.ArgumentParser = sub.add_parser(
        "profile",
        help="list the built-in protocol profiles, or check one (and probe a server with it)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="the built-in profiles and what each claims")
    check = actions.add_parser("check", help="validate a profile; probe a server with it")
    check.add_argument("profile", metavar="NAME|FILE", help="a built-in name or a TOML file")
    check.add_argument("url", nargs="?", metavar="URL", help="a server to probe (ws://...)")
    return p


def run(args: argparse.Namespace) -> int:
    """List, or check (and probe)."""
    if args.action == "list":
        print(listing())
        return 0
    protocol = load_profile(args.profile)
    print(f"profile {protocol.name}: valid ({_claims(protocol)})")
    if args.url is None:
        return 0
    validate.ws_url(args.url)
    seen, unread = asyncio.run(probe(protocol, args.url))
    print(report(protocol, seen, unread))
    return 0 if not missing(protocol, seen) else 1


def listing() -> str:
    """One line per built-in profile: its name, format and claims."""
    lines = []
    for name in builtin_names():
        protocol = load_profile(name)
        lines.append(f"{name:<14} {protocol.profile.description}")
        lines.append(f"{'':<14} {_claims(protocol)}")
    return "\n".join(lines)


def _claims(protocol: ChatProtocol) -> str:
    d = describe(protocol)
    flags = [f"format {d['format']}", "rooms" if d["rooms"] else "one room"]
    flags += [f"{'' if d[k] else 'no '}{k.replace('_', ' ')}" for k in ("welcome", "echo")]
    flags += [
        f"{'' if d[k] else 'no '}{k.split('_')[1]} announcements"
        for k in ("announces_join", "announces_leave")
    ]
    return ", ".join(flags)


async def probe(protocol: ChatProtocol, url: str) -> tuple[dict[str, list[Event]], list[str]]:
    """Two members, a message, a leave: the events seen by kind, and the frames unread."""
    config = CheckConfig(urls=(url,), protocol=protocol)
    ctx = CaseContext(config)
    room = f"cb-probe-{secrets.token_hex(3)}"
    try:
        a = await ctx.connect(room, "probe-a", label="a")
        await a.until_ready(config.t())
        await asyncio.sleep(WATCH_S / 3)
        b = await ctx.connect(room, "probe-b", label="b")
        await b.until_ready(config.t())
        await asyncio.sleep(WATCH_S / 3)
        await a.say(f"probe-{secrets.token_hex(4)}", config.t())
        await asyncio.sleep(WATCH_S / 3)
        await b.close(config.t())
        await asyncio.sleep(WATCH_S / 3)
    except ServerViolation as v:
        raise UnreachableError(f"cannot probe {url}: {v.reason}") from None
    finally:
        await ctx.aclose()
    return _sort(ctx.clients)


def _sort(clients: list[Client]) -> tuple[dict[str, list[Event]], list[str]]:
    seen: dict[str, list[Event]] = defaultdict(list)
    unread: list[str] = []
    for client in clients:
        for event in client.history:
            seen[event.kind].append(event)
            if event.kind == "other":
                unread.append(f"{client.label}: {show(event)}")
        if client.violation is not None:
            unread.append(f"{client.label}: {client.violation.reason}")
    return seen, unread


def missing(protocol: ChatProtocol, seen: dict[str, list[Event]]) -> list[str]:
    """The event kinds the profile claims that the probe did not see."""
    b = protocol.behaviour
    claimed = [MESSAGE] + [WELCOME] * b.welcome + [JOINED] * b.announces_join
    claimed += [LEFT] * b.announces_leave
    return [kind for kind in claimed if not seen.get(kind)]


def report(protocol: ChatProtocol, seen: dict[str, list[Event]], unread: list[str]) -> str:
    """What the probe saw per event kind, the frames nothing matched, and what is missing."""
    lines = []
    for kind in KINDS[:-1]:
        events = seen.get(kind, [])
        example = _fields(events[0]) if events else "none seen"
        lines.append(f"  {kind:<8} {len(events):>3}  {example}")
    lines.append(f"  {'other':<8} {len(seen.get('other', [])):>3}  frames no matcher read:")
    lines += [f"             {u}" for u in unread[:8]]
    gaps = missing(protocol, seen)
    if gaps:
        lines.append(f"claimed but not seen: {', '.join(gaps)} (check the matchers and behaviour)")
    else:
        lines.append("every event the profile claims was seen")
    return "\n".join(lines)


def _fields(event: Event) -> str:
    names = ("user", "text", "room", "online", "code")
    got = ", ".join(f"{n}={getattr(event, n)!r}" for n in names if getattr(event, n) is not None)
    return f"{got}  <- {show(event, 100)}"
