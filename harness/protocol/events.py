"""pydantic models of every protocol v1 event (docs/protocol.md, section 12)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Event(BaseModel):
    """Base of all events: strict JSON types, extra fields kept and ignored."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


class Welcome(_Event):
    """First frame to a joiner: its room and the number of members, itself included."""

    type: Literal["welcome"] = "welcome"
    room: str
    online: int = Field(ge=1)


class System(_Event):
    """A membership notice: `NAME joined` or `NAME left`."""

    type: Literal["system"] = "system"
    message: str

    @property
    def kind(self) -> str | None:
        """`joined`, `left`, or None when the message is neither."""
        _, _, verb = self.message.rpartition(" ")
        return verb if verb in ("joined", "left") else None

    @property
    def name(self) -> str:
        """The member's name: everything before the last space."""
        return self.message.rpartition(" ")[0]


class Message(_Event):
    """A chat message relayed to every member of the room, the sender included."""

    type: Literal["message"] = "message"
    user: str
    text: str
    room: str


class Error(_Event):
    """An error about the client's last frame; sent to that client only."""

    type: Literal["error"] = "error"
    code: str
    message: str


ServerEvent = Annotated[Welcome | System | Message | Error, Field(discriminator="type")]
"""Any event a server sends, discriminated by its `type` field."""


class ClientMessage(BaseModel):
    """What a client sends: `{"text": "..."}`; unknown fields are ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    text: str


ERROR_CODES = (
    "invalid_json",
    "invalid_message",
    "binary_not_supported",
    "text_too_long",
    "rate_limited",
)
"""Error codes of protocol v1, sections 7 and 9 (`rate_limited`: flow.rate-limit)."""
