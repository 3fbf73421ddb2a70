"""The clauses of protocol v1 as data: id, level, section and title (docs/protocol.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Level(StrEnum):
    """How binding a clause is: a MUST failure fails a check, a SHOULD only with --strict."""

    MUST = "MUST"
    SHOULD = "SHOULD"


class Clause(NamedTuple):
    """One rule of the spec, cited by its stable id in every verdict."""

    id: str
    level: Level
    section: str
    title: str


_M, _S = Level.MUST, Level.SHOULD

CLAUSES: tuple[Clause, ...] = (
    Clause("schema.events", _M, "1", "every server frame is a valid protocol v1 event"),
    Clause("connect.endpoint", _M, "2", "WebSocket accepted at /ws/chat/{room}?username=NAME"),
    Clause("connect.default-username", _M, "2", "missing or empty username means Anonymous"),
    Clause("room.invalid", _S, "2", "invalid room id refused"),
    Clause("username.no-html", _M, "2", "no < or > from a username reaches any client"),
    Clause("username.sanitized", _S, "2", "usernames sanitized as specified, used consistently"),
    Clause("join.welcome", _M, "3", "first frame is welcome with room and online"),
    Clause("join.announce", _M, "3", "others get NAME joined, the joiner does not"),
    Clause("join.online-count", _M, "3", "online counts exactly the members present"),
    Clause("message.broadcast", _M, "4", "every member, sender included, gets the message"),
    Clause("message.roundtrip", _M, "4", "text relayed exactly: unicode, emoji, empty, long"),
    Clause("message.order", _M, "4", "per-sender order, no loss, no duplicates"),
    Clause("message.extra-fields", _S, "4", "unknown client fields ignored"),
    Clause("room.isolation", _M, "5", "members receive events of their own room only"),
    Clause("room.exact-name", _M, "5", "ids differing in case or Unicode form are distinct"),
    Clause("leave.clean", _M, "6", "clean close announced as NAME left"),
    Clause("leave.abrupt", _M, "6", "TCP drop without close frame announced within 5 s"),
    Clause("leave.half-open", _S, "6", "silent half-open member dropped within 30 s"),
    Clause("input.not-json", _M, "7", "a non-JSON frame does not break the room"),
    Clause("input.not-object", _M, "7", "a JSON non-object does not break the room"),
    Clause("input.bad-text", _M, "7", "missing or non-string text does not break the room"),
    Clause("input.binary", _M, "7", "a binary frame does not break the room"),
    Clause("input.error-event", _S, "7", "invalid frames answered with an error event"),
    Clause("limit.oversize-safe", _M, "8", "an oversize frame does not break the room"),
    Clause("limit.frame-size", _S, "8", "a frame over 65536 bytes closes with 1009"),
    Clause("limit.text-length", _S, "8", "text over 8192 characters gets text_too_long"),
    Clause("flow.slow-consumer", _M, "9", "a member that stops reading never stalls the room"),
    Clause("flow.evict", _S, "9", "an overflowing member is closed with 1008 and announced"),
    Clause("flow.concurrency", _M, "9", "online counts consistent after a join/leave storm"),
    Clause("flow.rate-limit", _S, "9", "a flooding connection is rate limited (rate_limited)"),
    Clause("origin.foreign", _S, "10", "a foreign Origin is refused"),
    Clause("shutdown.going-away", _S, "11", "graceful shutdown closes clients with 1001"),
)
"""Every clause of protocol v1, in the order of the spec."""

BY_ID: dict[str, Clause] = {c.id: c for c in CLAUSES}
"""Clauses by id."""


def clause(clause_id: str) -> Clause:
    """The clause with this id; KeyError names the unknown id."""
    try:
        return BY_ID[clause_id]
    except KeyError:
        raise KeyError(f"unknown clause id {clause_id!r}") from None
