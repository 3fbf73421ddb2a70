"""Frames to events and back. Pure: bytes and strings in, models or errors out."""

from __future__ import annotations

import json
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from harness.protocol.events import ClientMessage, ServerEvent

_SERVER_EVENT: TypeAdapter[Any] = TypeAdapter(ServerEvent)


class FrameError(ValueError):
    """A frame that breaks the protocol; `code` is the protocol v1 error code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _load_object(frame: str | bytes) -> dict[str, Any]:
    """Parse a frame's JSON object, or raise FrameError naming what is wrong."""
    if isinstance(frame, bytes):
        raise FrameError("binary_not_supported", "binary frame; protocol v1 uses text frames")
    try:
        value = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise FrameError("invalid_json", f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise FrameError("invalid_message", f"JSON {type(value).__name__}, expected an object")
    return value


def parse_server_event(frame: str | bytes) -> ServerEvent:
    """Parse one server frame into its event model, or raise FrameError with the reason."""
    value = _load_object(frame)
    try:
        return _SERVER_EVENT.validate_python(value)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise FrameError("invalid_event", _describe(exc, value)) from None


def parse_client_message(frame: str | bytes, max_text: int | None = None) -> ClientMessage:
    """Parse a client frame into a ClientMessage, or raise FrameError with its error code."""
    value = _load_object(frame)
    text = value.get("text")
    if not isinstance(text, str):
        raise FrameError("invalid_message", "`text` missing or not a string")
    if max_text is not None and len(text) > max_text:
        raise FrameError("text_too_long", f"text of {len(text)} characters, limit {max_text}")
    return ClientMessage(text=text)


def encode_event(event: ServerEvent) -> str:
    """Serialize an event to the JSON text of one frame."""
    return orjson.dumps(event.model_dump(mode="json")).decode()


def encode_client_message(text: str) -> str:
    """The frame a client sends to say `text`."""
    return orjson.dumps({"text": text}).decode()


def _describe(exc: ValidationError, value: dict[str, Any]) -> str:
    """One line naming each field that failed and why."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"][1:] or err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    shown = json.dumps(value, ensure_ascii=False)
    shown = shown if len(shown) <= 200 else shown[:197] + "..."
    return f"{'; '.join(parts)} in {shown}"
