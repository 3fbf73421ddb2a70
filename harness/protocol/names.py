"""Username sanitization and room-id rules (docs/protocol.md, section 2)."""

from __future__ import annotations

import re
import unicodedata

DEFAULT_USERNAME = "Anonymous"
MAX_USERNAME = 32
MAX_ROOM_ID = 64

_REMOVED = frozenset("<>&\"'`")
_SPACES = re.compile(r"\s+")
_ROOM_PUNCT = frozenset("-_.~")


def sanitize_username(requested: str | None) -> str:
    """The name the server shows for a requested username (protocol v1, `username.sanitized`)."""
    if not requested:
        return DEFAULT_USERNAME
    kept = "".join(
        ch
        for ch in requested
        if ch not in _REMOVED and (ch.isspace() or unicodedata.category(ch)[0] != "C")
    )
    name = _SPACES.sub(" ", kept).strip()[:MAX_USERNAME].strip()
    return name or DEFAULT_USERNAME


def is_valid_room_id(room_id: str) -> bool:
    """True when `room_id` (already percent-decoded) is a valid protocol v1 room id."""
    return 0 < len(room_id) <= MAX_ROOM_ID and all(
        ch.isalnum() or ch in _ROOM_PUNCT for ch in room_id
    )
