import pytest

from harness.protocol import is_valid_room_id, sanitize_username


@pytest.mark.parametrize(
    ("requested", "shown"),
    [
        (None, "Anonymous"),
        ("", "Anonymous"),
        ("alice", "alice"),
        ("<script>alert(1)</script>", "scriptalert(1)/script"),
        ('"><img src=x onerror=alert(1)>', "img src=x onerror=alert(1)"),
        ("  a \t\n b  ", "a b"),
        ("bell\x07\x00", "bell"),
        ("<>&'\"`", "Anonymous"),
        ("x" * 40, "x" * 32),
        ("émile 😀", "émile 😀"),
    ],
)
def test_sanitize_username(requested, shown):
    assert sanitize_username(requested) == shown


@pytest.mark.parametrize("name", ["<svg/onload=alert(1)>", "a<b>c", "&lt;"])
def test_sanitized_names_hold_no_html_metacharacters(name):
    assert not set(sanitize_username(name)) & set("<>&\"'`")


@pytest.mark.parametrize("room", ["lobby", "Lobby", "café", "a-b_c.d~e", "x" * 64, "房间"])
def test_valid_room_ids(room):
    assert is_valid_room_id(room)


@pytest.mark.parametrize("room", ["", "x" * 65, "a b", "a/b", "a<b", "cafe\u0301", "a%20"])
def test_invalid_room_ids(room):
    assert not is_valid_room_id(room)
