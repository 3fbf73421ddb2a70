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

ENV_PREFIX = "CHATBENCH_"


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
    ping_interval: float = 5.0
    ping_timeout: float = 10.0
    close_timeout: float = 2.0
    """Seconds a close handshake may take before the TCP connection is aborted."""
    shutdown_timeout: float = 5.0
    max_connections: int = 0
    """Open WebSocket connections allowed at once; 0 means no limit. Over it: close 1013."""
    allowed_origins: tuple[str, ...] = ()
    """Origins accepted besides none and the server's own; `*` accepts every origin."""
    log_level: str = "warning"
    redis_url: str = ""
    """Share rooms with every process using this Redis (docs/scaling.md); empty: this one only."""
    redis_sharded: bool = False
    """Use Redis 7 sharded pub/sub (SPUBLISH/SSUBSCRIBE)."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port must be 0..65535, got {self.port}")
        for name in ("port", "workers", "queue_size", "max_frame_bytes", "max_text_chars"):
            if getattr(self, name) < (0 if name == "port" else 1):
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("ping_interval", "ping_timeout", "close_timeout", "shutdown_timeout"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):  # NaN too
                raise SettingsError(f"{name} must be a positive number of seconds")
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
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"redis_url must start with redis://, rediss:// or unix://: {url!r}")
    try:
        urllib.parse.urlsplit(url).port  # noqa: B018 - raises ValueError on a bad host or port
    except ValueError as exc:
        raise SettingsError(f"redis_url {url!r} is not a valid URL: {exc}") from None


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
