"""A profile's event matchers, compiled once: JSON pointers to getters, regexes compiled.

`Matcher.read(obj, frame)` runs per received frame in the load generator's receive path, so it
does the least it can: a pointer of one key is one `dict.get`, a `match` is a few comparisons,
and a spec whose pointers are all top-level keys (no regex, `Flat`) gets a reader of its own
with no getter call per field (bench/experiments/receive_cost.py measures it).
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from harness.profile.interface import Event
from harness.profile.model import EventSpec, Scalar

Getter = Callable[[Any], Any]
_MISSING = object()


def pointer(path: str) -> Getter:
    """A getter for JSON pointer `path` (RFC 6901); missing parts give `_MISSING`."""
    parts = [_segment(p) for p in path.split("/")[1:]]
    if len(parts) == 1 and isinstance(parts[0], str):
        key = parts[0]
        return lambda obj: obj.get(key, _MISSING) if type(obj) is dict else _MISSING
    if len(parts) == 1:  # "/0": a Socket.IO event's name
        index = parts[0]
        return lambda obj: _item(obj, index)
    return lambda obj: _walk(obj, parts)


def top_key(path: str) -> str | None:
    """The key of a pointer to a top-level field of an object (`/type`), else None.

    A segment of digits reads an array index too, so it is not a plain key here."""
    parts = [_segment(p) for p in path.split("/")[1:]]
    return parts[0] if len(parts) == 1 and isinstance(parts[0], str) else None


def _item(obj: Any, index: int | str) -> Any:
    if type(obj) is list and isinstance(index, int):
        return obj[index] if index < len(obj) else _MISSING
    if type(obj) is dict:
        return obj.get(str(index), _MISSING)
    return _MISSING


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


FIELDS = ("user", "text", "room", "online", "code")
_new_event = tuple.__new__  # Event(...) without NamedTuple's Python-level __new__


class Matcher:
    """One event kind's spec, compiled.

    `read(obj, frame)`: the event if `obj` (parsed JSON) matches, else None; `match` is
    the spec's `match` table by key (JSON pointers as given) for dispatching on one key.
    """

    __slots__ = ("field", "flat", "getters", "kind", "match", "read", "regex", "tests")

    def __init__(self, kind: str, spec: EventSpec) -> None:
        self.kind = kind
        self.match = {_key(k): v for k, v in spec.match.items()}
        self.tests = [(pointer(k), v) for k, v in self.match.items()]
        self.regex = re.compile(spec.regex, re.DOTALL) if spec.regex is not None else None
        self.field = pointer(spec.field) if spec.field is not None else None
        self.getters = {
            name: pointer(path) for name in FIELDS if (path := getattr(spec, name)) is not None
        }
        self.flat = flat(spec)
        self.read: Callable[[Any, str | bytes], Event | None] = (
            self.read_any if self.flat is None else _flat_reader(kind, self.flat)
        )

    def read_any(self, obj: Any, frame: str | bytes) -> Event | None:
        """The event if `obj` (parsed JSON) matches, else None (any spec)."""
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


class Flat(NamedTuple):
    """A spec read by top-level keys of an object only, with no regex: its `match` tests as
    (key, value, type of the value), and the key of each of FIELDS (None: not read)."""

    tests: list[tuple[str, Scalar, type]]
    keys: tuple[str | None, str | None, str | None, str | None, str | None]


def flat(spec: EventSpec) -> Flat | None:
    """The Flat form of `spec` (protocol v1's messages, most JSON chats), or None."""
    if spec.regex is not None:
        return None
    tests = []
    for name, value in spec.match.items():
        key = top_key(_key(name))
        if key is None:
            return None
        tests.append((key, value, type(value)))
    keys: list[str | None] = []
    for name in FIELDS:
        path = getattr(spec, name)
        key = top_key(path) if path is not None else None
        if path is not None and key is None:
            return None
        keys.append(key)  # None: not read (an object parsed from JSON has no None key)
    ku, kt, kr, ko, kc = keys
    return Flat(tests, (ku, kt, kr, ko, kc))


def _flat_reader(kind: str, plan: Flat) -> Callable[[Any, str | bytes], Event | None]:
    """A reader for a Flat spec, with no getter call per field.

    Same answers as `Matcher.read_any`: a missing key reads as None, and fields of unusual
    types take `event`'s general conversion.
    """
    ku, kt, kr, ko, kc = plan.keys
    # One test is the usual case (`type = "message"`): unrolled; more go in a loop.
    key1, want1, type1 = plan.tests[0] if plan.tests else (None, None, type(None))
    rest, tested = plan.tests[1:], bool(plan.tests)

    def read(obj: Any, frame: str | bytes) -> Event | None:
        if type(obj) is not dict:  # no key to test or read: only a spec without tests matches
            return None if tested else fields_event(kind, (None,) * 5, frame)
        get = obj.get
        got = get(key1)
        if got != want1 or type(got) is not type1:
            return None
        for key, want, want_type in rest:
            got = get(key, _MISSING)
            if got != want or type(got) is not want_type:
                return None
        return fields_event(kind, (get(ku), get(kt), get(kr), get(ko), get(kc)), frame)

    return read


def fields_event(kind: str, values: tuple[Any, ...], frame: str | bytes) -> Event | None:
    """The event of FIELDS' values as read (None where absent); None for an impossible type."""
    user, text, room, online, code = values
    if (
        (text is None or type(text) is str)
        and (user is None or type(user) is str)
        and (room is None or type(room) is str)
        and online is None
        and code is None
    ):  # the common case, already in its final types
        return _new_event(Event, (kind, user, text, room, None, None, frame))
    fields = {n: v for n, v in zip(FIELDS, values, strict=True) if v is not None}
    return event(kind, fields, frame)


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
