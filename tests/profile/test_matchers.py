"""Matchers read events by JSON pointer and regex, and refuse impossible field types."""

from __future__ import annotations

import orjson

from harness.profile.interface import MESSAGE, OTHER, WELCOME
from harness.profile.matchers import Matcher, pointer
from harness.profile.model import EventSpec


def test_pointers_walk_objects_and_arrays_and_miss_quietly():
    doc = {"a": {"b": [10, {"c/d": 3}]}, "x": 1}
    assert pointer("/x")(doc) == 1
    assert pointer("/a/b/0")(doc) == 10
    assert pointer("/a/b/1/c~1d")(doc) == 3
    missing = pointer("/a/z")(doc)
    assert missing is pointer("/nope")(doc)  # the same sentinel, not None
    assert pointer("/x")([1, 2]) is missing


def test_match_is_exact_in_value_and_type():
    m = Matcher(WELCOME, EventSpec(match={"type": "welcome"}, online="/online"))
    assert m.read({"type": "welcome", "online": 3}, "f").online == 3
    assert m.read({"type": "Welcome", "online": 3}, "f") is None
    flag = Matcher(WELCOME, EventSpec(match={"ok": True}))
    assert flag.read({"ok": 1}, "f") is None  # 1 is not true


def test_regex_on_a_json_field_gives_named_groups():
    m = Matcher(
        "joined",
        EventSpec(match={"type": "system"}, field="/message", regex=r"^(?P<user>.*) joined$"),
    )
    assert m.read({"type": "system", "message": "ann smith joined"}, "f").user == "ann smith"
    assert m.read({"type": "system", "message": "ann left"}, "f") is None


def test_text_regex_spans_lines_and_numbers_become_names():
    m = Matcher(MESSAGE, EventSpec(regex=r"^Client #(?P<user>\d+) says: (?P<text>.*)$"))
    got = m.read_text("Client #12 says: a\nb", "raw")
    assert (got.user, got.text, got.raw) == ("12", "a\nb", "raw")
    num = Matcher(MESSAGE, EventSpec(match={"t": "m"}, user="/id", text="/body"))
    assert num.read(orjson.loads('{"t":"m","id":5,"body":"x"}'), "f").user == "5"


def test_a_text_that_is_not_a_string_is_no_message():
    m = Matcher(MESSAGE, EventSpec(match={"type": "message"}, text="/text"))
    assert m.read({"type": "message", "text": 42}, "f") is None
    assert OTHER == "other"
