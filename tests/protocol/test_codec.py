import pytest

from harness.protocol import (
    Error,
    FrameError,
    Message,
    System,
    Welcome,
    encode_client_message,
    encode_event,
    parse_client_message,
    parse_server_event,
)

GOOD = [
    ('{"type": "welcome", "room": "r", "online": 1}', Welcome(room="r", online=1)),
    ('{"type": "system", "message": "ann joined"}', System(message="ann joined")),
    (
        '{"type": "message", "user": "a", "text": "", "room": "r", "x": 1}',
        Message(user="a", text="", room="r", x=1),
    ),
    (
        '{"type": "error", "code": "invalid_json", "message": "m"}',
        Error(code="invalid_json", message="m"),
    ),
]

BAD = [
    (b"\x00", "binary_not_supported"),
    ("not json", "invalid_json"),
    ("[1, 2]", "invalid_message"),
    ('{"type": "welcome", "room": "r"}', "invalid_event"),
    ('{"type": "welcome", "room": "r", "online": "3"}', "invalid_event"),
    ('{"type": "welcome", "room": "r", "online": 0}', "invalid_event"),
    ('{"type": "welcome", "room": "r", "online": true}', "invalid_event"),
    ('{"type": "message", "user": "a", "text": 5, "room": "r"}', "invalid_event"),
    ('{"type": "shout", "message": "x"}', "invalid_event"),
    ('{"message": "x"}', "invalid_event"),
]


@pytest.mark.parametrize(("frame", "event"), GOOD)
def test_parses_valid_events(frame, event):
    assert parse_server_event(frame) == event


@pytest.mark.parametrize(("frame", "code"), BAD)
def test_rejects_invalid_events_with_reason(frame, code):
    with pytest.raises(FrameError) as info:
        parse_server_event(frame)
    assert info.value.code == code
    assert info.value.detail


def test_invalid_event_names_the_field():
    with pytest.raises(FrameError, match="online"):
        parse_server_event('{"type": "welcome", "room": "r"}')


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("nope", "invalid_json"),
        ('"text"', "invalid_message"),
        ("{}", "invalid_message"),
        ('{"text": 3}', "invalid_message"),
        (b'{"text": "x"}', "binary_not_supported"),
    ],
)
def test_client_message_errors(frame, code):
    with pytest.raises(FrameError) as info:
        parse_client_message(frame)
    assert info.value.code == code


def test_client_message_text_limit():
    assert parse_client_message(encode_client_message("a" * 10), max_text=10).text == "a" * 10
    with pytest.raises(FrameError) as info:
        parse_client_message(encode_client_message("a" * 11), max_text=10)
    assert info.value.code == "text_too_long"


def test_client_message_ignores_extra_fields():
    assert parse_client_message('{"text": "hi", "to": "bob"}').text == "hi"


@pytest.mark.parametrize("text", ["", "héllo", "😀 family 👨‍👩‍👧", 'a\nb\t"q"', "x" * 8192])
def test_round_trip_exact(text):
    assert parse_client_message(encode_client_message(text)).text == text
    event = Message(user="u", text=text, room="r")
    assert parse_server_event(encode_event(event)) == event


def test_system_kind_and_name():
    assert System(message="Mary Ann joined").kind == "joined"
    assert System(message="Mary Ann left").name == "Mary Ann"
    assert System(message="hello").kind is None
