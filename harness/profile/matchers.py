"""A profile's event matchers, compiled once: JSON pointers to getters, regexes compiled.

`Matcher.read(obj, frame)` runs per received frame in the load generator's receive path, so it
does the least it can: a pointer of one key is one `dict.get`, a `match` is a few comparisons.
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from harness.profile.interface import Event
from harness.profile.model import EventSpec

Getter = Callable[[Any], Any]
_MISSING = object()


def pointer(path: str) -> Getter:
    """A getter for JSON pointer `path` (RFC 6901); missing parts give `_MISSING`."""
    parts = [_segment(p) for p in path.split("/")[1:]]
    if len(parts) == 1 and isinstance(parts[0], str):
        key = parts[0]
        return lambda obj: obj.get(key, _MISSING) if type(obj) is dict else _MISSING
    return lambda obj: _walk(obj, parts)


def _segment(part: str) -> str | int:
    part = part.replace("~1", "/").replace("~0", "~")
    return int(part) if part.isdigit() else part


def _walk(obj: Any, parts: list[str | int]) -> Any:
    for part in parts:
        if type(obj) is dict:
            obj = obj.get(part if isinstance(part, str) else str(part), _MISSING)
        elif type(obj) is list and isinstance(part, int):
            obj = obj[part] if part < len(obj) else _MISSING
        else:
            return _MISSING
        if obj is _MISSING:
            return _MISSING
    return obj


def _key(name: str) -> str:
    """A `match` key: a JSON pointer, or a top-level field name."""
    return name if name.startswith("/") else "/" + name.replace("~", "~0").replace("/", "~1")


class Matcher:
    """One event kind's spec, compiled."""

    __slots__ = ("field", "getters", "kind", "regex", "tests")

    def __init__(self, kind: str, spec: EventSpec) -> None:
        self.kind = kind
        self.tests = [(pointer(_key(k)), v) for k, v in spec.match.items()]
        self.regex = re.compile(spec.regex, re.DOTALL) if spec.regex is not None else None
        self.field = pointer(spec.field) if spec.field is not None else None
        self.getters = {
            name: pointer(path)
            for name in ("user", "text", "room", "online", "code")
            if (path := getattr(spec, name)) is not None
        }

    def read(self, obj: Any, frame: str | bytes) -> Event | None:
        """The event if `obj` (parsed JSON) matches, else None."""
        for get, want in self.tests:
            got = get(obj)
            if got != want or type(got) is not type(want):
                return None
        fields: dict[str, Any] = {}
        if self.regex is not None:
            subject = self.field(obj) if self.field is not None else None
            if type(subject) is not str:
                return None
            m = self.regex.match(subject)
            if m is None:
                return None
            fields = m.groupdict()
        for name, get in self.getters.items():
            value = get(obj)
            if value is not _MISSING:
                fields[name] = value
        return event(self.kind, fields, frame)

    def read_text(self, text: str, frame: str | bytes) -> Event | None:
        """The event if plain-text `text` matches the regex, else None."""
        assert self.regex is not None
        m = self.regex.match(text)
        return None if m is None else event(self.kind, m.groupdict(), frame)


def event(kind: str, fields: dict[str, Any], frame: str | bytes) -> Event | None:
    """An Event from extracted fields; None when a field has an impossible type."""
    text = fields.get("text")
    if text is not None and type(text) is not str:
        return None
    online = fields.get("online")
    if online is not None:
        online = _integer(online)
        if online is None:
            return None
    return Event(
        kind,
        _name(fields.get("user")),
        text,
        _name(fields.get("room")),
        online,
        _name(fields.get("code")),
        frame,
    )


def _name(value: Any) -> str | None:
    """Names and codes as strings: a server may send a member's number as a number."""
    if value is None or type(value) is str:
        return value
    if type(value) in (int, float):
        return str(value)
    return repr(value)


def _integer(value: Any) -> int | None:
    if type(value) is int:
        return value
    if type(value) is str and value.isdigit():
        return int(value)
    return None
