"""The draft profiles parse, and classify exactly the frames that test_servers pins.

A stand-in for the profile machinery (harness/profile/), as small as the profile shape of
issue 12 allows: `match` on fields or JSON pointers, `regex` on text, Socket.IO's `42[...]`.
It keeps the drafts honest until the machinery validates them itself.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

PROFILES = Path(__file__).parent / "profiles"
SERVERS = Path(__file__).parent
KINDS = ("welcome", "joined", "left", "message", "error")


def load(name: str) -> dict[str, Any]:
    return tomllib.loads((PROFILES / f"{name}.toml").read_text())


def pointer(document: Any, path: str) -> Any:
    """RFC 6901: the value at `path`, KeyError when there is none."""
    for token in path.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        document = document[int(token)] if isinstance(document, list) else document[token]
    return document


def decoded(profile: dict[str, Any], frame: str) -> Any:
    receive = profile["receive"]["format"]
    if receive == "text":
        return frame
    if receive == "socketio":
        return json.loads(frame[2:]) if frame.startswith("42") else None  # 0, 40, 2: Engine.IO
    return json.loads(frame)


def fields(rule: dict[str, Any], event: Any) -> dict[str, Any] | None:
    """The named fields `rule` takes from `event`, None when it does not match."""
    if "regex" in rule:
        found = re.match(rule["regex"], event) if isinstance(event, str) else None
        return found.groupdict() if found else None
    try:
        for key, wanted in rule["match"].items():
            if pointer(event, key if key.startswith("/") else f"/{key}") != wanted:
                return None
        return {key: pointer(event, path) for key, path in rule.items() if key != "match"}
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def classify(profile: dict[str, Any], frame: str) -> tuple[str, dict[str, Any]]:
    """The one kind of event that `frame` is, and its fields; ("other", {}) for none."""
    event = decoded(profile, frame)
    kinds = [
        (kind, got)
        for kind in KINDS
        if kind in profile["receive"]
        and (got := fields(profile["receive"][kind], event)) is not None
    ]
    assert len(kinds) <= 1, f"{frame!r} matches {kinds}"
    return kinds[0] if kinds else ("other", {})


Frames = list[tuple[str, str, dict[str, Any]]]

SOCKETIO_FRAMES: Frames = [
    ('0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000}', "other", {}),
    ('40{"sid":"y"}', "other", {}),
    ("2", "other", {}),
    ('42["login",{"numUsers":1}]', "welcome", {"online": 1}),
    ('42["user joined",{"username":"bob","numUsers":2}]', "joined", {"user": "bob"}),
    (
        '42["new message",{"username":"bob","message":"hi"}]',
        "message",
        {"user": "bob", "text": "hi"},
    ),
    ('42["typing",{"username":"ann"}]', "other", {}),
    ('42["user left",{"username":"bob","numUsers":1}]', "left", {"user": "bob"}),
]

FRAMES: dict[str, Frames] = {
    "fastapi_docs": [
        ("You wrote: hello", "other", {}),
        ("Client #2 says: hello", "message", {"user": "2", "text": "hello"}),
        ("Client #2 says: a\nb says: c", "message", {"user": "2", "text": "a\nb says: c"}),
        ("Client #2 says: ", "message", {"user": "2", "text": ""}),
        ("Client #2 left the chat", "left", {"user": "2"}),
    ],
    "socketio_chat": SOCKETIO_FRAMES,
    "socketio_node": SOCKETIO_FRAMES,
    "json_other_fields": [
        ('{"event": "joined", "who": "bob"}', "joined", {"user": "bob"}),
        (
            '{"event": "say", "from": "bob", "body": "hi there", "channel": "r"}',
            "message",
            {"user": "bob", "text": "hi there", "room": "r"},
        ),
        ('{"event": "error", "reason": "expected ..."}', "error", {}),
        ('{"event": "left", "who": "bob"}', "left", {"user": "bob"}),
    ],
    "relay_no_echo": [
        ('{"type": "hello", "members": 2}', "welcome", {"online": 2}),
        ('{"type": "presence", "user": "bob", "status": "online"}', "joined", {"user": "bob"}),
        ('{"type": "msg", "user": "bob", "msg": "hi"}', "message", {"user": "bob", "text": "hi"}),
        ('{"type": "error", "reason": "expected ..."}', "error", {}),
        ('{"type": "presence", "user": "bob", "status": "offline"}', "left", {"user": "bob"}),
    ],
    "plain_text_room": [
        ("* bob has joined", "joined", {"user": "bob"}),
        ("<bob> hi there", "message", {"user": "bob", "text": "hi there"}),
        ("<bob> * ann has left", "message", {"user": "bob", "text": "* ann has left"}),
        ("<bob> two\nlines", "message", {"user": "bob", "text": "two\nlines"}),
        ("! text frames only", "error", {}),
        ("* bob has left", "left", {"user": "bob"}),
    ],
}


def test_every_server_has_a_profile():
    modules = {
        path.stem for path in SERVERS.glob("*.py") if not path.stem.startswith(("_", "test"))
    }
    assert modules - {"asgi"} == {path.stem for path in PROFILES.glob("*.toml")} == set(FRAMES)


@pytest.mark.parametrize("name", FRAMES)
def test_profile_classifies_its_servers_frames(name):
    profile = load(name)
    assert set(profile) <= {"name", "connect", "send", "receive", "behaviour"}
    for frame, kind, expected in FRAMES[name]:
        assert classify(profile, frame) == (kind, expected), frame


@pytest.mark.parametrize("name", FRAMES)
def test_profile_behaviour_agrees_with_its_events(name):
    profile = load(name)
    behaviour, receive = profile["behaviour"], profile["receive"]
    assert behaviour["welcome"] == ("welcome" in receive)
    assert behaviour["announces_join"] == ("joined" in receive)
    assert behaviour["announces_leave"] == ("left" in receive)
    assert "message" in receive
