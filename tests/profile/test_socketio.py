"""The Socket.IO session: answers pings, connects, joins once acknowledged, reads events."""

from __future__ import annotations

from harness.profile import load_profile
from harness.profile.socketio import validate


def _session():
    return load_profile("socketio").session("lobby", "ann", 1)


def test_the_engine_io_and_socket_io_handshake():
    s = _session()
    assert s.start() == []
    assert s.receive('0{"sid":"x","pingInterval":25000}') is None
    assert s.replies == ["40"] and not s.ready
    s.replies.clear()
    assert s.receive('40{"sid":"y"}') is None
    assert s.ready and s.replies == ['42["add user","ann"]']


def test_pings_are_answered_and_events_read_by_pointer():
    s = _session()
    assert s.receive("2") is None and s.replies == ["3"]
    welcome = s.receive('42["login",{"numUsers":2}]')
    assert (welcome.kind, welcome.online) == ("welcome", 2)
    msg = s.receive('42["new message",{"username":"bob","message":"hi"}]')
    assert (msg.kind, msg.user, msg.text) == ("message", "bob", "hi")
    left = s.receive('42["user left",{"username":"bob","numUsers":1}]')
    assert (left.kind, left.user) == ("left", "bob")
    assert s.receive('42["typing",{"username":"bob"}]').kind == "other"
    assert s.receive('44{"message":"not authorized"}').kind == "error"


def test_frames_that_are_not_engine_io_packets_break_the_schema():
    assert validate('42["new message",{}]') is None
    assert validate("9nope") is not None
    assert validate("42{not json") is not None
    assert validate(b"\x00") is not None
