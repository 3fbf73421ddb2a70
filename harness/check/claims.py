"""What a case needs the server to claim, and why a case is n/a when it does not.

A scenario names the claims its clause rests on (`@scenario(..., needs=("welcome",))`); a
profile whose behaviour does not make one of them gets the case judged `n/a` with the reason,
never failed. Protocol v1 claims everything.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.profile import ChatProtocol, templates

Claim = Callable[[ChatProtocol], bool]


def _welcome_counts(p: ChatProtocol) -> bool:
    welcome = p.profile.receive.welcome
    return p.behaviour.welcome and (welcome is None or welcome.extracts("online"))


CLAIMS: dict[str, tuple[Claim, str]] = {
    "welcome": (
        lambda p: p.behaviour.welcome,
        "the server sends no welcome (behaviour.welcome = false)",
    ),
    "online": (_welcome_counts, "the server's welcome carries no member count"),
    "announces_join": (
        lambda p: p.behaviour.announces_join,
        "the server announces no joins (behaviour.announces_join = false)",
    ),
    "announces_leave": (
        lambda p: p.behaviour.announces_leave,
        "the server announces no leaves (behaviour.announces_leave = false)",
    ),
    "rooms": (lambda p: p.rooms, "the server has one room for everybody (connect.rooms = false)"),
    "usernames": (
        lambda p: "username" in templates.placeholders(p.profile.connect.name),
        "the server names members itself, not after a requested username (connect.name)",
    ),
    "v1_rules": (
        lambda p: p.behaviour.v1_rules,
        "a rule of protocol v1 itself (its limits, error codes, names or room ids), which "
        "this server does not claim (behaviour.v1_rules = false)",
    ),
}


def not_applicable(needs: tuple[str, ...], protocol: ChatProtocol) -> str:
    """Why a case needing `needs` is n/a for `protocol`, or "" when it applies."""
    for need in needs:
        for claim in ("welcome", need) if need == "online" else (need,):  # no welcome, no count
            claimed, reason = CLAIMS[claim]
            if not claimed(protocol):
                return f"n/a for profile {protocol.name}: {reason}"
    return ""
