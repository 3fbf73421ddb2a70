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


@pytest.mark.parametrize("room", ["\u00bd", "\u2460", "\u00b2", "\u216b", "\u3007", "x\u00b9"])
def test_numbers_that_are_not_decimal_digits_are_not_room_id_characters(room):
    # str.isalnum() accepts every one of these (categories No and Nl); the spec says digits
    assert room.isalnum() and not is_valid_room_id(room)


def room_spec_cases() -> list[tuple[str, bool]]:
    """The room-id table of docs/protocol.md, section 2: (id, valid) for each JSON string."""
    import json
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    table = doc[doc.index("| room id (JSON string)") :].split("\n\n", 1)[0]
    cases = []
    for row in table.splitlines()[2:]:
        ids, valid = row.split(" | ")[:2]
        cases += [(json.loads(r), valid == "yes") for r in re.findall(r'`(".*?")`', ids)]
    return cases


def test_the_spec_pins_the_room_id_rules_with_literal_cases():
    cases = room_spec_cases()
    assert len(cases) >= 15 and {valid for _, valid in cases} == {True, False}
    for room, valid in cases:
        assert is_valid_room_id(room) is valid, room


def spec_cases() -> list[tuple[str, str]]:
    """The normative username cases of docs/protocol.md, section 2 (JSON strings)."""
    import json
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    section = doc[doc.index("These cases are normative") :]
    rows = re.findall(r'^\| `(".*?")`[^|]* \| `(".*?")`[^|]* \|$', section, re.MULTILINE)
    return [(json.loads(a), json.loads(b)) for a, b in rows]


def test_the_spec_pins_the_username_rules_with_literal_cases():
    cases = spec_cases()
    assert len(cases) >= 10
    for requested, shown in cases:
        assert sanitize_username(requested) == shown, requested


@pytest.mark.parametrize(
    ("requested", "shown"),
    [
        ("a\x1cb", "ab"),  # str.isspace() says white space; Unicode White_Space does not
        ("a\u200bb", "a\u200bb"),  # a format character that is not a bidi control stays
        ("a \x00 b", "a b"),  # removed first, then the spaces around it collapse
        ("\u202a", "Anonymous"),
    ],
)
def test_sanitize_follows_unicode_not_python_white_space(requested, shown):
    assert sanitize_username(requested) == shown
