"""How a process joins the cluster: the Redis URL, the pub/sub flavour and the timings."""

from __future__ import annotations

from dataclasses import dataclass

from reference_server.redact import redact_url


@dataclass(frozen=True)
class ClusterConfig:
    """How a process joins the cluster; timings in seconds (docs/scaling.md)."""

    url: str
    prefix: str = "chatbench"
    sharded: bool = False
    """Use sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7+) instead of PUBLISH/SUBSCRIBE."""
    heartbeat_interval: float = 1.0
    node_ttl: float = 3.0
    """A process whose heartbeat key is older than this is dead; its members are reaped."""
    reap_interval: float = 1.0
    op_timeout: float = 2.0
    """Longest wait for one Redis command or PUBLISH reply before the link is declared down."""
    backoff_initial: float = 0.1
    backoff_max: float = 2.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"redis URL must start with redis://, rediss:// or unix://: {redact_url(self.url)}"
            )
        if not 0 < self.heartbeat_interval < self.node_ttl:
            raise ValueError("heartbeat interval must be positive and below the node TTL")
        for name in ("reap_interval", "op_timeout", "backoff_initial", "backoff_max"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    @property
    def reap_bound(self) -> float:
        """Longest time from a process's death to its members being announced as left: its
        heartbeat key expires within `node_ttl`, a reaper looks every `reap_interval`, and
        reaping itself takes a few round trips (one second of slack)."""
        return self.node_ttl + self.reap_interval + 1.0

    @property
    def commands(self) -> tuple[str, str, str]:
        """(publish, subscribe, unsubscribe) commands of the chosen pub/sub flavour."""
        if self.sharded:
            return "SPUBLISH", "SSUBSCRIBE", "SUNSUBSCRIBE"
        return "PUBLISH", "SUBSCRIBE", "UNSUBSCRIBE"
