"""Server settings: defaults, overridden by CHATBENCH_* environment variables, then by flags."""

from __future__ import annotations

import dataclasses
import math
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.protocol import MAX_FRAME_BYTES, MAX_TEXT_CHARS
from reference_server.redact import redact_url

ENV_PREFIX = "CHATBENCH_"
MAX_REQUEST_LINE = 8192 - len("OPTIONS  HTTP/1.1")
"""websockets reads a request line of at most 8192 bytes; the method and version take 17."""
_POSITIVE = (
    "port",
    "workers",
    "queue_size",
    "max_frame_bytes",
    "max_text_chars",
    "max_handshakes",
    "max_request_line",
    "max_header_bytes",
    "rate_burst",
    "max_fragments",
    "max_unsent_bytes",
)
_SECONDS = (
    "ping_interval",
    "ping_timeout",
    "close_timeout",
    "shutdown_timeout",
    "handshake_timeout",
    "message_timeout",
)


class SettingsError(ValueError):
    """A setting has a value the server cannot use; the message names the setting."""


@dataclass(frozen=True)
class Settings:
    """Everything the reference server can be told. Environment: CHATBENCH_<FIELD IN CAPS>."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    queue_size: int = 1024
    """Frames waiting for one client before it is evicted as a slow consumer (flow.evict)."""
    max_frame_bytes: int = MAX_FRAME_BYTES
    max_text_chars: int = MAX_TEXT_CHARS
    ping_interval: float = 10.0
    """Seconds a member may be silent before it is pinged (reference_server.transport)."""
    ping_timeout: float = 5.0
    """Seconds a ping may go unanswered before the connection is dropped (1011). With
    `ping_interval` this bounds leave.half-open: 15 s here, 25 s on uvicorn's legacy
    `websockets` stack, which pings every interval and then waits its 10 s close timeout."""
    close_timeout: float = 2.0
    """Seconds a close handshake may take before the TCP connection is aborted."""
    shutdown_timeout: float = 5.0
    max_connections: int = 0
    """Open WebSocket connections allowed at once; 0 means no limit. Over it: close 1013."""
    allowed_origins: tuple[str, ...] = ()
    """The public origins of the deployment (`https://chat.example`): a browser's handshake is
    accepted only from these; `*` accepts every origin (origin.foreign)."""
    same_host_origin: bool = False
    """Also accept an http(s) Origin naming the request's own Host (opt-in: a Host header is
    the client's word, and DNS rebinding makes it the attacker's)."""
    chat_page: bool = True
    """Serve the browser chat page at `/` (reference_server/static/chat.html)."""
    page_origin: bool = False
    """Also accept the origin of the address the client connected to (`http://IP:PORT`, and
    `http://localhost:PORT` on loopback): the chat page served here. The socket's own address,
    never the Host header: DNS rebinding cannot forge it. `chatbench serve` turns it on."""
    handshake_timeout: float = 5.0
    """Seconds a connection has to send its request line and headers (then 408 and close)."""
    max_handshakes: int = 256
    """Connections still waiting for their request; past it the oldest of them is closed."""
    max_request_line: int = 8000
    """Bytes of a request target (URL); longer: 414 and close."""
    max_header_bytes: int = 16384
    """Bytes of a request's header block; larger: 431 and close."""
    rate_limit: float = 100.0
    """Messages per second one connection may send, sustained (flow.rate-limit); 0: no limit."""
    rate_burst: int = 1000
    """Messages one connection may send at once before `rate_limit` applies."""
    max_fragments: int = 64
    """Frames one message may be split into (more: close 1009)."""
    message_timeout: float = 10.0
    """Seconds a fragmented message may take from its first frame to its last (then 1008)."""
    max_unsent_bytes: int = 1 << 20
    """Bytes waiting to be sent to one client past which the server stops reading it."""
    healthz_details: bool = False
    """Show the Redis link's details (host, node id, last error) in /healthz."""
    log_level: str = "warning"
    redis_url: str = ""
    """Share rooms with every process using this Redis (docs/scaling.md); empty: this one only."""
    redis_sharded: bool = False
    """Use Redis 7 sharded pub/sub (SPUBLISH/SSUBSCRIBE)."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port must be 0..65535, got {self.port}")
        for name in _POSITIVE:
            if getattr(self, name) < (0 if name == "port" else 1):
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)}")
        for name in _SECONDS:
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):  # NaN too
                raise SettingsError(f"{name} must be a positive number of seconds")
        if not (math.isfinite(self.rate_limit) and self.rate_limit >= 0):
            raise SettingsError("rate_limit must be 0 (no limit) or a positive number per second")
        if self.max_request_line > MAX_REQUEST_LINE:
            raise SettingsError(
                f"max_request_line must be at most {MAX_REQUEST_LINE}: the WebSocket handshake "
                "parser refuses longer request lines"
            )
        if self.redis_url:
            _check_redis_url(self.redis_url)
        if self.max_connections < 0:
            raise SettingsError("max_connections must be 0 (no limit) or positive")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then CHATBENCH_* variables of `environ`, then non-None `overrides`."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + field.name.upper())
            if raw is not None:
                values[field.name] = _parse(field.name, raw, field.default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)


def _check_redis_url(url: str) -> None:
    """SettingsError unless `url` is a redis://, rediss:// or unix:// URL that parses."""
    shown = redact_url(url)  # never the password, not even in an error message
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"redis_url must start with redis://, rediss:// or unix://: {shown!r}")
    try:
        urllib.parse.urlsplit(url).port  # noqa: B018 - raises ValueError on a bad host or port
    except ValueError as exc:
        raise SettingsError(f"redis_url {shown!r} is not a valid URL: {exc}") from None


def _parse(name: str, raw: str, default: Any) -> Any:
    """The value of environment variable CHATBENCH_<name>, typed like the setting's default."""
    try:
        if isinstance(default, bool):
            if raw.strip().lower() not in ("1", "0", "true", "false", "yes", "no", ""):
                raise ValueError(raw)
            return raw.strip().lower() in ("1", "true", "yes")
        if isinstance(default, tuple):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if isinstance(default, int | float):
            return type(default)(raw)
        return raw
    except ValueError:
        kind = "a number"
        if isinstance(default, bool):
            kind = "a boolean (1 or 0)"
        elif isinstance(default, int):
            kind = "an integer"
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not {kind}") from None
