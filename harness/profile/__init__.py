"""Protocol profiles: how a chat server speaks, so `check` and `load` work on any server.

A profile (a TOML file, or a built-in: `v1`, `fastapi-docs`, `socketio`) is data; the code
that reads it is one small interface, `ChatProtocol` (harness/profile/interface.py), used by
the conformance client and the load generator alike. docs/profiles.md tells how to write one.
"""

from harness.profile.interface import (
    ERROR,
    JOINED,
    KINDS,
    LEFT,
    MESSAGE,
    OTHER,
    WELCOME,
    ChatProtocol,
    Event,
    Session,
)
from harness.profile.loader import (
    DEFAULT,
    ProfileError,
    builtin_names,
    describe,
    load_profile,
    parse,
)
from harness.profile.model import Behaviour, EventSpec, Profile

__all__ = [
    "DEFAULT",
    "ERROR",
    "JOINED",
    "KINDS",
    "LEFT",
    "MESSAGE",
    "OTHER",
    "WELCOME",
    "Behaviour",
    "ChatProtocol",
    "Event",
    "EventSpec",
    "Profile",
    "ProfileError",
    "Session",
    "builtin_names",
    "describe",
    "load_profile",
    "parse",
]
