"""Username sanitization and room-id rules (docs/protocol.md, section 2)."""

from __future__ import annotations

import unicodedata

DEFAULT_USERNAME = "Anonymous"
MAX_USERNAME = 32
MAX_ROOM_ID = 64

_REMOVED = frozenset("<>&\"'`")
WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""Unicode's White_Space characters (PropList.txt): runs of them become one space."""
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Bidirectional formatting characters: removed, so no name can reorder the text around it."""
_ROOM_PUNCT = frozenset("-_.~")
ROOM_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"})
"""A room id's letters and digits: Unicode letters (L*) and decimal digits (Nd). Not other
numbers (`½` No, `Ⅻ` Nl), which `str.isalnum` also accepts, and not combining marks."""


def sanitize_username(requested: str | None) -> str:
    """The name the server shows for a requested username (protocol v1, `username.sanitized`).

    In order: remove `< > & " '` and the backtick, bidirectional controls and control
    characters (Unicode category Cc) that are not white space; collapse each run of white
    space (Unicode White_Space) to one space; strip the ends; keep at most 32 code points and
    strip again; an empty result is `Anonymous`.
    """
    if not requested:
        return DEFAULT_USERNAME
    out: list[str] = []
    for ch in requested:
        if ch in WHITE_SPACE:
            if out and out[-1] != " ":
                out.append(" ")
        elif not _removed(ch):
            out.append(ch)
    name = "".join(out).strip()[:MAX_USERNAME].strip()
    return name or DEFAULT_USERNAME


def _removed(ch: str) -> bool:
    return ch in _REMOVED or ch in BIDI_CONTROLS or unicodedata.category(ch) == "Cc"


def is_valid_room_id(room_id: str) -> bool:
    """True when `room_id` (already percent-decoded) is a valid protocol v1 room id."""
    return 0 < len(room_id) <= MAX_ROOM_ID and all(
        ch in _ROOM_PUNCT or unicodedata.category(ch) in ROOM_CATEGORIES for ch in room_id
    )
