"""Protocol v1 as pure data and functions: events, codec, clauses, names, probes.

Nothing here does I/O: no asyncio, websockets, locust or matplotlib imports.
"""

from harness.protocol.clauses import BY_ID, CLAUSES, Clause, Level, clause
from harness.protocol.codec import (
    FrameError,
    encode_client_message,
    encode_event,
    parse_client_message,
    parse_server_event,
)
from harness.protocol.events import (
    ERROR_CODES,
    ClientMessage,
    Error,
    Message,
    ServerEvent,
    System,
    Welcome,
)
from harness.protocol.names import DEFAULT_USERNAME, is_valid_room_id, sanitize_username
from harness.protocol.probe import Probe, decode_probe, encode_probe

MAX_FRAME_BYTES = 65536
"""Protocol v1 frame size limit (section 8)."""
MAX_TEXT_CHARS = 8192
"""Protocol v1 text length limit (section 8)."""

__all__ = [
    "BY_ID",
    "CLAUSES",
    "DEFAULT_USERNAME",
    "ERROR_CODES",
    "MAX_FRAME_BYTES",
    "MAX_TEXT_CHARS",
    "Clause",
    "ClientMessage",
    "Error",
    "FrameError",
    "Level",
    "Message",
    "Probe",
    "ServerEvent",
    "System",
    "Welcome",
    "clause",
    "decode_probe",
    "encode_client_message",
    "encode_event",
    "encode_probe",
    "is_valid_room_id",
    "parse_client_message",
    "parse_server_event",
    "sanitize_username",
]
