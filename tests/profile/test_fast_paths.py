"""The load path's fast readers give exactly the general reading's answers, frame by frame.

`Matcher.read` (a Flat spec's own reader), the dispatch on one `match` key and the inline
message reading of `json_classifier` exist for speed only (bench/experiments/receive_cost.py);
each is checked here against `Matcher.read_any` and the plain ordered reading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from harness.profile import OTHER, Event, load_profile, parse
from harness.profile.declarative import DeclarativeProtocol
from harness.profile.matchers import Matcher
from harness.profile.model import EventSpec

SERVER_PROFILES = sorted((Path(__file__).parents[1] / "servers" / "profiles").glob("*.toml"))
JSON_PROFILES = ["v1", *(str(p) for p in SERVER_PROFILES if "json" in p.read_text())]

OBJECTS: list[Any] = [
    {"type": "message", "user": "a", "text": "hi", "room": "r"},
    {"type": "message", "user": 7, "text": "hi"},  # a number as a name
    {"type": "message", "user": "a", "text": 42},  # a text that is not a string
    {"type": "message", "text": None, "room": ["x"]},
    {"type": "message"},
    {"type": "welcome", "room": "r", "online": 3},
    {"type": "welcome", "online": "4"},
    {"type": "welcome", "online": True},
    {"type": "system", "message": "ann joined"},
    {"type": "system", "message": "ann left"},
    {"type": "error", "code": "E", "message": "bad"},
    {"type": ["message"]},  # an unhashable value at the dispatch key
    {"type": True},
    {"type": 1},
    {"event": "say", "from": "n", "body": "t", "channel": "c"},
    {"event": "joined", "who": "n"},
    {"type": "hello", "members": 2},
    {"type": "presence", "user": "n", "status": "online"},
    {"type": "presence", "user": "n", "status": "offline"},
    {"type": "presence", "user": "n", "status": 1},
    {"type": "msg", "user": "n", "msg": "t"},
    {"msg": "t"},
    {"hello": 1, "n": 3},
    {"hello": True, "n": 3},
    {"bye": "ann"},
    [1, 2],
    "text",
    3,
    None,
]

SPECS = [
    EventSpec(match={"type": "message"}, user="/user", text="/text", room="/room"),
    EventSpec(match={"type": "welcome"}, online="/online", room="/room"),
    EventSpec(match={"type": "error"}, code="/code", text="/message"),
    EventSpec(match={"type": "presence", "status": "online"}, user="/user"),
    EventSpec(match={"type": 1}, text="/msg"),
    EventSpec(match={"type": True}),
    EventSpec(text="/msg"),  # no match at all
    EventSpec(match={"type": "message"}, user="/user/name", text="/text"),  # not Flat
]


@pytest.mark.parametrize("spec", SPECS, ids=range(len(SPECS)))
def test_a_flat_readers_answer_is_the_general_one(spec):
    m = Matcher("message", spec)
    for obj in OBJECTS:
        assert m.read(obj, b"f") == m.read_any(obj, b"f"), obj


def ordered(protocol: DeclarativeProtocol, frame: bytes) -> Event:
    """The reading without any fast path: every matcher in order."""
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return Event(OTHER, raw=frame)
    for matcher in protocol.matchers:
        found = matcher.read_any(obj, frame)
        if found is not None:
            return found
    return Event(OTHER, raw=frame)


NO_SHARED_KEY = """
name = "mixed"
[receive]
message = { match = { type = "msg" }, text = "/msg", user = "/user" }
welcome = { match = { hello = 1 }, online = "/n" }
left = { field = "/bye", regex = '^(?P<user>.+)$' }
[behaviour]
announces_join = false
"""


@pytest.mark.parametrize("name", [*JSON_PROFILES, "no-shared-key"])
def test_classify_gives_the_ordered_readings_answer(name):
    protocol = (
        DeclarativeProtocol(parse("inline", NO_SHARED_KEY))
        if name == "no-shared-key"
        else load_profile(name)
    )
    assert isinstance(protocol, DeclarativeProtocol)
    frames = [orjson.dumps(obj) for obj in OBJECTS] + [b"not json", b"\xff", b""]
    for frame in frames:
        assert protocol.classify(frame) == ordered(protocol, frame), frame
        assert protocol.session("r", "u", 1).receive_utf8(frame) == ordered(protocol, frame)


def test_socketio_events_dispatch_on_their_name():
    protocol = load_profile("socketio")
    assert isinstance(protocol, DeclarativeProtocol) and protocol.dispatch_key == "/0"
    for data in (["new message", {"username": "a", "message": "m"}], ["login", {"numUsers": 2}]):
        assert protocol.classify_object(data, "f") == next(
            e for m in protocol.matchers if (e := m.read_any(data, "f")) is not None
        )
    assert protocol.classify_object([["new message"]], "f").kind == OTHER  # unhashable
    assert protocol.classify_object({"0": "login"}, "f").kind == "welcome"  # RFC 6901: key "0"
