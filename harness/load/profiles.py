"""The protocol profile of a load run, and what it means for the ledger and the gates. Pure.

Every Locust process loads its profile once (`--cb-profile`, default protocol v1, with
`--cb-path-template` and `--cb-header` on top); `chatbench load` loads it too, to refuse a
wrong one before anything starts. What the profile does not claim is not judged
(`not_judged`): a gate on it reads "not judged: ..." as one on an empty population does.
"""

from __future__ import annotations

from typing import Any

from harness.errors import UsageError
from harness.profile import ChatProtocol, describe, load_profile
from harness.profile.templates import TemplateError

RTT = "rtt"
"""`not_judged` key of every round-trip gate (rtt_p50, rtt_p99, ...)."""
JOINED = "joined"
"""`not_judged` key of the reconnect storm's `joined` announcements (storm_joined_missing)."""


def load_protocol(
    name: str | None, path_template: str | None = None, option: str = "--path-template"
) -> ChatProtocol:
    """The profile `name` (a built-in or a file; v1 when empty), its URL replaced by
    `path_template` when given; UsageError (one line) when either is wrong."""
    protocol = load_profile(name or None)
    if path_template:
        from harness.check.context import with_url  # pure helpers, shared with `check`

        protocol = with_url(protocol, path_template, option)
    rehearse(protocol)
    return protocol


def rehearse(protocol: ChatProtocol) -> None:
    """Render every template once, so a missing `{env:NAME}` is a usage error now rather
    than a failure inside each user's connection."""
    try:
        protocol.path("room", "user", 1)
        protocol.headers("room", "user", 1)
        protocol.member_name("user", 1)
        protocol.session("room", "user", 1).start()
        protocol.encode("text")
    except TemplateError as exc:
        raise UsageError(f"profile {protocol.name}: {exc}") from None


def parse_headers(texts: list[str] | tuple[str, ...], option: str) -> list[tuple[str, str]]:
    """`Name: value` texts as pairs; UsageError naming `option` for one that is not a header."""
    from harness.commands.check import parse_header  # the same rule as `check --header`

    return [parse_header(text, option) for text in texts]


def welcome_counts(protocol: ChatProtocol) -> bool:
    """Whether the profile's welcome carries the member count (`receive.welcome.online`)."""
    spec = protocol.profile.receive.welcome
    return protocol.behaviour.welcome and spec is not None and spec.online is not None


def not_judged(protocol: ChatProtocol) -> dict[str, str]:
    """Gate metric (or `RTT`) -> why the profile's server makes it meaningless."""
    b, skipped = protocol.behaviour, {}
    if not b.welcome:
        why = "the profile's server sends no welcome (behaviour.welcome = false)"
        skipped["welcome_missing"] = why
        skipped["online_mismatches"] = why
    elif not welcome_counts(protocol):
        skipped["online_mismatches"] = (
            "the profile's welcome carries no member count (receive.welcome.online)"
        )
    if not b.announces_leave:
        skipped["leave_missing"] = (
            "the profile's server does not announce leaves (behaviour.announces_leave = false)"
        )
    if not b.announces_join:
        skipped[JOINED] = (
            "the profile's server does not announce joins (behaviour.announces_join = false)"
        )
    if not b.echo:
        skipped[RTT] = (
            "the profile's server does not echo a sender's own messages (behaviour.echo = "
            "false): no round trip is owed or measured"
        )
    return skipped


def facts(protocol: ChatProtocol, source: str) -> dict[str, Any]:
    """What results.json records of the profile (`config.profile`)."""
    return {
        **describe(protocol),
        "source": source or "v1",
        "url": protocol.profile.connect.url,
        "settle_s": protocol.profile.connect.settle,
        "not_judged": not_judged(protocol),
    }
