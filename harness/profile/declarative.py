"""The ChatProtocol a TOML profile describes: templates rendered, matchers compiled. Pure.

Formats: `json` (one JSON value per text frame), `text` (plain-text lines matched by regex)
and `socketio` (Engine.IO v4 / Socket.IO v4 packets over WebSocket, `harness.profile.socketio`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from harness.profile import templates
from harness.profile.interface import OTHER, ChatProtocol, Event, Session
from harness.profile.matchers import Matcher, pointer, top_key
from harness.profile.model import Profile

# Matchers are tried in this order: the most frequent kind first (the load receive path).
ORDER = ("message", "welcome", "joined", "left", "error")
Classify = Callable[[str | bytes], Event]


class DeclarativeProtocol(ChatProtocol):
    """A ChatProtocol read from a Profile's tables."""

    def __init__(self, profile: Profile) -> None:
        super().__init__(profile)
        receive = profile.receive
        self.matchers = [
            Matcher(kind, spec) for kind in ORDER if (spec := getattr(receive, kind)) is not None
        ]
        self.format = receive.format
        self.v1_schema = receive.schema_ == "v1"
        self.dispatch_key, self.by_value = dispatch(self.matchers)
        self._dispatch_get = pointer(self.dispatch_key) if self.dispatch_key else None
        fast: Classify = self.classify_text if self.format == "text" else json_classifier(self)
        self.classify = fast  # type: ignore[method-assign,assignment]  # one call per frame

    # -- connecting ------------------------------------------------------------------------

    def values(self, room: str, username: str, member: int) -> dict[str, str]:
        """Every placeholder's value for one connection."""
        return {
            **self.profile.connect.vars,
            "room": room,
            "username": username,
            "member": str(member),
        }

    def path(self, room: str, username: str | None, member: int) -> str:
        """See ChatProtocol.path."""
        values = self.values(room, username or "", member)
        drop = "username" if username is None else None
        return templates.render_url(self.profile.connect.url, values, drop)

    def shown_path(self, room: str, username: str | None, member: int) -> str:
        """See ChatProtocol.shown_path."""
        values = self.values(room, username or "", member)
        drop = "username" if username is None else None
        return templates.render_url(self.profile.connect.url, values, drop, mask_env=True)

    def headers(self, room: str, username: str, member: int) -> list[tuple[str, str]]:
        """See ChatProtocol.headers."""
        values = self.values(room, username, member)
        return [
            (key, templates.render(value, values, "plain"))
            for key, value in self.profile.connect.headers.items()
        ]

    def subprotocols(self) -> list[str]:
        """See ChatProtocol.subprotocols."""
        return list(self.profile.connect.subprotocols)

    def member_name(self, username: str, member: int) -> str:
        """See ChatProtocol.member_name."""
        return templates.render(
            self.profile.connect.name, self.values("", username, member), "plain"
        )

    def join_frames(self, room: str, username: str, member: int) -> list[str]:
        """The `connect.join` frames of one connection."""
        values = self.values(room, username, member)
        return [templates.render(f, values, "frame") for f in self.profile.connect.join]

    # -- messages --------------------------------------------------------------------------

    def encode(self, text: str) -> str:
        """See ChatProtocol.encode."""
        return templates.render(self.profile.send.frame, {"text": text}, "frame")

    def session(self, room: str, username: str, member: int) -> Session:
        """See ChatProtocol.session."""
        join = self.join_frames(room, username, member)
        if self.format == "socketio":
            from harness.profile.socketio import SocketIOSession

            return SocketIOSession(self, join)
        return PlainSession(self, join)

    def classify(self, frame: str | bytes) -> Event:
        """The event of one frame of format json or text (OTHER when nothing matches)."""
        if self.format == "text":
            return self.classify_text(frame)
        try:
            obj = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return Event(OTHER, raw=frame)
        return self.classify_object(obj, frame)

    def classify_object(self, obj: Any, frame: str | bytes) -> Event:
        """The event of one parsed JSON value."""
        candidates = self.matchers
        if self._dispatch_get is not None:
            try:
                candidates = self.by_value.get(self._dispatch_get(obj), [])
            except TypeError:  # an array or object there: no matcher's value
                candidates = []
        for matcher in candidates:
            found = matcher.read(obj, frame)
            if found is not None:
                return found
        return Event(OTHER, raw=frame)

    def classify_text(self, frame: str | bytes) -> Event:
        """The event of one plain-text frame (UTF-8 bytes are decoded; OTHER if they are not
        UTF-8)."""
        if type(frame) is bytes:
            try:
                frame = frame.decode()
            except UnicodeDecodeError:
                return Event(OTHER, raw=frame)
        if type(frame) is not str:
            return Event(OTHER, raw=frame)
        for matcher in self.matchers:
            found = matcher.read_text(frame, frame)
            if found is not None:
                return found
        return Event(OTHER, raw=frame)

    def validate(self, frame: str | bytes) -> str | None:
        """See ChatProtocol.validate: the format, and protocol v1's schema when asked."""
        if self.format == "socketio":
            from harness.profile.socketio import validate

            return validate(frame)
        if self.format == "json" or self.v1_schema:
            if isinstance(frame, bytes):
                return "a binary frame; this protocol sends text frames"
            try:
                orjson.loads(frame)
            except orjson.JSONDecodeError as exc:
                return f"not JSON: {exc}"
        if self.format == "text" and isinstance(frame, bytes):
            return "a binary frame; this protocol sends text frames"
        if self.v1_schema:
            from harness.protocol import FrameError, parse_server_event

            try:
                parse_server_event(frame)
            except FrameError as exc:
                return exc.detail
        return None


def dispatch(matchers: list[Matcher]) -> tuple[str | None, dict[Any, list[Matcher]]]:
    """The `match` key every matcher tests (`/type`, `/0`), with the matchers by the value
    they want there, in order; (None, {}) when the matchers share no such key.

    Then one lookup finds the candidates of a frame instead of trying each matcher in turn.
    Values equal across types (1 and true) share a list: each matcher still checks its type.
    """
    if not matchers:
        return None, {}
    shared = set.intersection(*(set(m.match) for m in matchers))
    if not shared:
        return None, {}
    key = min(shared)
    table: dict[Any, list[Matcher]] = {}
    for m in matchers:
        table.setdefault(m.match[key], []).append(m)
    return key, table


def json_classifier(protocol: DeclarativeProtocol) -> Classify:
    """`classify` for JSON frames: one parse, then the candidates for the dispatch key's value.

    The load generator calls this once per received frame (bench/experiments/receive_cost.py),
    so the first kind (messages) is read inline when its spec is Flat with the one test on the
    dispatch key (`type = "message"`) and reads neither online nor code: no call but the
    parse, and the same answer as the general path.
    """
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    table = protocol.by_value
    key = top_key(protocol.dispatch_key) if protocol.dispatch_key else None
    classify_object = protocol.classify_object

    def candidates(obj: dict[str, Any], value: Any, frame: str | bytes) -> Event:
        try:
            found = table.get(value, ())
        except TypeError:  # an array or object there: no matcher's value
            found = ()
        for matcher in found:
            event = matcher.read(obj, frame)
            if event is not None:
                return event
        return Event(OTHER, raw=frame)

    def classify(frame: str | bytes) -> Event:
        try:
            obj = loads(frame)
        except decode_error:
            return Event(OTHER, raw=frame)
        if key is None:
            return classify_object(obj, frame)
        if type(obj) is not dict:  # every matcher tests a key of an object
            return Event(OTHER, raw=frame)
        return candidates(obj, obj.get(key), frame)

    first = protocol.matchers[0] if protocol.matchers else None
    plan = first.flat if first is not None else None
    if first is None or plan is None or key is None or len(plan.tests) != 1:
        return classify
    if plan.tests[0][0] != key or plan.keys[3:] != (None, None):
        return classify
    _, want, want_type = plan.tests[0]
    kind, (ku, kt, kr, _, _) = first.kind, plan.keys
    new = tuple.__new__

    def classify_fast(frame: str | bytes) -> Event:
        try:
            obj = loads(frame)
        except decode_error:
            return Event(OTHER, raw=frame)
        if type(obj) is not dict:
            return Event(OTHER, raw=frame)
        get = obj.get
        value = get(key)
        if value == want and type(value) is want_type:
            user, text, room = get(ku), get(kt), get(kr)
            if (
                (text is None or type(text) is str)
                and (user is None or type(user) is str)
                and (room is None or type(room) is str)
            ):
                return new(Event, (kind, user, text, room, None, None, frame))
        return candidates(obj, value, frame)

    return classify_fast


class PlainSession(Session):
    """A connection of a json or text profile: join frames first, then classify each frame."""

    def __init__(self, protocol: DeclarativeProtocol, join: list[str]) -> None:
        super().__init__()
        self.join = join
        self.receive = protocol.classify  # type: ignore[method-assign]  # no wrapper per frame
        # orjson parses UTF-8 bytes (and rejects invalid UTF-8), classify_text decodes them
        self.receive_utf8 = protocol.classify  # type: ignore[method-assign,assignment]

    def start(self) -> list[str]:
        """The join frames, right after the handshake."""
        self.ready = True
        return self.join

    def receive(self, frame: str | bytes) -> Event | None:  # replaced in __init__
        """See Session.receive."""
        raise NotImplementedError
