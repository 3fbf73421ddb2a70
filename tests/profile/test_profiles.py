"""Profiles load from built-in names or files; every mistake names its key and line."""

from __future__ import annotations

import pytest

from harness.profile import ProfileError, builtin_names, describe, load_profile

GOOD = """\
name = "mine"
[connect]
url = "/chat?room={room}&nick={username}"
[send]
frame = '{"say": {text}}'
[receive]
message = { match = { event = "say" }, user = "/from", text = "/body", room = "/channel" }
joined = { match = { event = "joined" }, user = "/who" }
left = { match = { event = "left" }, user = "/who" }
[behaviour]
welcome = false
"""


def _write(tmp_path, text):
    path = tmp_path / "p.toml"
    path.write_text(text)
    return str(path)


def test_builtins_load_and_v1_is_the_default():
    assert set(builtin_names()) >= {"v1", "fastapi-docs", "socketio"}
    for name in builtin_names():
        assert describe(load_profile(name))["name"] == name
    assert load_profile().name == "v1"


def test_a_profile_file_reads_its_server(tmp_path):
    p = load_profile(_write(tmp_path, GOOD))
    assert p.path("r 1", "ann", 3) == "/chat?room=r%201&nick=ann"
    assert p.encode("hi") == '{"say": "hi"}'
    got = p.classify('{"event": "say", "from": "ann", "body": "hi", "channel": "r"}')
    assert (got.kind, got.user, got.text, got.room) == ("message", "ann", "hi", "r")
    assert p.classify("not json").kind == "other"


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (("[behaviour]", "[behavior]"), 10, "behavior: unknown key"),
        (('nick={username}"', 'nick={usernme}"'), 3, "unknown placeholder {usernme}"),
        (('user = "/from"', 'user = "from"'), 7, "starts with '/'"),
        (("welcome = false", "welcome = true"), 11, "has no welcome matcher"),
        (("frame = '{\"say\": {text}}'", 'frame = "hello"'), 5, "needs the {text} placeholder"),
        (('user = "/who" }\n[beh', 'usr = "/who" }\n[beh'), 9, "unknown key"),
    ],
)
def test_mistakes_name_the_key_and_the_line(tmp_path, change, line, message):
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(ProfileError) as caught:
        load_profile(_write(tmp_path, text))
    assert f"p.toml line {line}: " in str(caught.value) and message in str(caught.value)


def test_not_toml_and_not_found_are_profile_errors(tmp_path):
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(_write(tmp_path, "name = "))
    with pytest.raises(ProfileError, match="no profile 'nope'"):
        load_profile("nope")


def test_an_adapter_class_replaces_the_declarative_reading(tmp_path):
    text = GOOD.replace('name = "mine"', 'name = "mine"\nadapter = "tests.profile.adapter:Upper"')
    protocol = load_profile(_write(tmp_path, text))
    assert type(protocol).__name__ == "Upper"
    assert protocol.encode("hi") == "HI"
    bad = GOOD.replace('name = "mine"', 'name = "mine"\nadapter = "tests.profile.adapter:nope"')
    with pytest.raises(ProfileError, match="not found"):
        load_profile(_write(tmp_path, bad))
