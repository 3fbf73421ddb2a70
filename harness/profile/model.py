"""A protocol profile as data: the TOML file's tables, validated (docs/profiles.md). Pure.

Unknown keys are errors (a typo must not be silently ignored); every template is checked
for its placeholders, every regex compiles, every event the behaviour claims has a matcher.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.profile import templates

Scalar = str | int | float | bool
GROUPS = frozenset({"user", "text", "room", "online", "code"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventSpec(_Strict):
    """How to recognise one kind of server event and where its fields are.

    `match`: JSON pointers (or top-level keys) and the value each must hold. `regex`: a
    Python regular expression matched from the start (`.` matches newlines) against the
    frame's text (format "text") or the string at JSON pointer `field`; its named groups
    (user, text, room, online, code) give the fields. The other keys are JSON pointers.
    """

    match: dict[str, Scalar] = {}
    regex: str | None = None
    field: str | None = None
    user: str | None = None
    text: str | None = None
    room: str | None = None
    online: str | None = None
    code: str | None = None

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            compiled = re.compile(value, re.DOTALL)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        unknown = set(compiled.groupindex) - GROUPS
        if unknown:
            raise ValueError(f"unknown named groups {sorted(unknown)} (known: {sorted(GROUPS)})")
        return value

    @field_validator("field", "user", "text", "room", "online", "code")
    @classmethod
    def _pointer(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"a JSON pointer starts with '/': {value!r}")
        return value

    def extracts(self, name: str) -> bool:
        """Whether this spec yields field `name` (by pointer or regex group)."""
        if getattr(self, name) is not None:
            return True
        return self.regex is not None and name in re.compile(self.regex).groupindex


class Connect(_Strict):
    """How a member connects: URL, the name the server gives it, headers, join frames."""

    url: str = "/ws/chat/{room}?username={username}"
    name: str = "{username}"
    headers: dict[str, str] = {}
    subprotocols: list[str] = []
    join: list[str] = []
    rooms: bool = True
    vars: dict[str, str] = {}
    settle: float = Field(default=0.5, gt=0, le=30)
    """Seconds to let a joiner register when the server gives no sign of it (no welcome)."""

    @field_validator("url")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"the URL template is a path and query starting with '/': {value!r}")
        return value


class Send(_Strict):
    """How a member says a text."""

    frame: str = '{"text": {text}}'


class Receive(_Strict):
    """How to read what the server sends: its format and a matcher per event kind."""

    format: Literal["json", "text", "socketio"] = "json"
    schema_: Literal["none", "v1"] = Field("none", alias="schema")
    """`v1`: every frame must also be a valid protocol v1 event (`schema.events`)."""
    namespace: str = "/"
    """Socket.IO namespace (format "socketio")."""
    welcome: EventSpec | None = None
    joined: EventSpec | None = None
    left: EventSpec | None = None
    message: EventSpec
    error: EventSpec | None = None


class Behaviour(_Strict):
    """What the server claims to do; each clause it does not claim is judged n/a."""

    welcome: bool = True
    announces_join: bool = True
    announces_leave: bool = True
    echo: bool = True
    history: int = Field(default=0, ge=0)
    """Earlier messages it replays to a joiner (they are owed to nobody)."""
    v1_rules: bool = False
    """The server follows protocol v1's own rules too: its limits, error codes, username
    sanitizing, room ids and slow-consumer eviction (docs/protocol.md)."""


class Profile(_Strict):
    """One protocol profile (a TOML file; docs/profiles.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1)
    description: str = ""
    adapter: str | None = None
    """`module:Class`: a Python ChatProtocol used instead of the declarative reading."""
    connect: Connect = Connect()
    send: Send = Send()
    receive: Receive
    behaviour: Behaviour = Behaviour()

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        self._check_templates()
        self._check_claims()
        self._check_format()
        return self

    def _check_templates(self) -> None:
        values = templates.BUILTIN | set(self.connect.vars)
        c = self.connect
        templates.check(c.url, values, "connect.url")
        templates.check(c.name, values, "connect.name")
        for key, value in c.headers.items():
            templates.check(value, values, f"connect.headers.{key}")
        for i, frame in enumerate(c.join):
            templates.check(frame, values, f"connect.join[{i}]")
        templates.check(self.send.frame, values | {"text"}, "send.frame")
        if "text" not in templates.placeholders(self.send.frame):
            raise ValueError("send.frame: needs the {text} placeholder")
        if (
            c.rooms
            and "room" not in templates.placeholders(c.url)
            and not any("room" in templates.placeholders(f) for f in c.join)
        ):
            raise ValueError(
                "connect.rooms: true, but neither connect.url nor connect.join says which room "
                "(use {room}, or set rooms = false)"
            )

    def _check_claims(self) -> None:
        r, b = self.receive, self.behaviour
        for claimed, spec, key in (
            (b.welcome, r.welcome, "welcome"),
            (b.announces_join, r.joined, "joined"),
            (b.announces_leave, r.left, "left"),
        ):
            if claimed and spec is None and self.adapter is None:
                raise ValueError(
                    f"behaviour.{_CLAIM[key]}: claims {key} events, but [receive] has no {key} "
                    f"matcher (add receive.{key}, or set behaviour.{_CLAIM[key]} = false)"
                )
        if not r.message.extracts("text"):
            raise ValueError("receive.message: must give the text (a `text` pointer or group)")
        for key in ("joined", "left"):
            spec = getattr(r, key)
            if spec is not None and not spec.extracts("user"):
                raise ValueError(f"receive.{key}: must give the user (a `user` pointer or group)")

    def _check_format(self) -> None:
        for key in ("welcome", "joined", "left", "message", "error"):
            spec = getattr(self.receive, key)
            if spec is None:
                continue
            if self.receive.format == "text":
                if spec.match or spec.field or any(getattr(spec, g) for g in GROUPS):
                    raise ValueError(
                        f'receive.{key}: format "text" frames are matched by `regex` only'
                    )
                if spec.regex is None:
                    raise ValueError(f'receive.{key}: format "text" needs a `regex`')
            elif spec.regex is not None and spec.field is None:
                raise ValueError(
                    f"receive.{key}: with JSON, `regex` applies to the string at `field` "
                    "(a JSON pointer): add field"
                )


_CLAIM = {"welcome": "welcome", "joined": "announces_join", "left": "announces_leave"}
