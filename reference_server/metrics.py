"""`/metrics`: the server's state in Prometheus text format (prometheus_client).

Read from the server's own counters when scraped (a custom collector), so the relay path does
no extra work per message. One registry per app: several servers in one process (tests) each
expose their own. `chatbench load --server-metrics URL/metrics` charts these.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from reference_server.descriptors import open_count

if TYPE_CHECKING:
    from reference_server.state import ChatState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ChatCollector(Collector):
    """Gauges and counters of one ChatState, read at scrape time."""

    def __init__(self, state: ChatState) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """The metrics, as of now."""
        state, s = self.state, self.state.stats
        rooms, members = state.hub.counts()
        yield _gauge("chatbench_connections", "open chat connections", len(state.members))
        yield _gauge("chatbench_rooms", "rooms with members (every process with Redis)", rooms)
        yield _gauge("chatbench_members", "members of those rooms", members)
        fds = open_count()
        if fds is not None:
            yield _gauge("chatbench_open_fds", "open file descriptors of the process", fds)
        yield _gauge(
            "chatbench_handshakes_waiting",
            "connections still in their handshake",
            state.doorway.waiting,
        )
        counters = [
            ("connections", "connections accepted", s.connections_total),
            ("messages_relayed", "chat messages relayed", s.messages_relayed),
            ("evictions", "slow consumers evicted (queue overflows)", s.queue_overflows),
            ("refused", "handshakes refused (room, origin, limit)", s.refused),
            ("rate_limited", "messages refused with rate_limited", s.rate_limited),
            ("flooders_closed", "connections closed for flooding", s.flooders_closed),
            ("handshake_timeouts", "handshakes that timed out", state.doorway.timed_out),
            ("handshakes_shed", "waiting handshakes closed to make room", state.doorway.shed),
            ("requests_too_large", "requests refused 414/431", state.doorway.too_large),
        ]
        for name, text, value in counters:
            yield CounterMetricFamily(f"chatbench_{name}", text, value=value)
        healthy = getattr(state.hub, "healthy", None)
        if healthy is not None:  # a Redis hub: is its link up
            yield _gauge("chatbench_redis_up", "1 while Redis is reachable", int(bool(healthy)))


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=value)


def registry_for(state: ChatState) -> CollectorRegistry:
    """A registry holding this server's collector and the standard process_* metrics (CPU
    seconds, resident memory, open descriptors: what every Prometheus client exports, and what
    `chatbench load --server-metrics` reads)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ChatCollector(state))
    ProcessCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The exposition text of a scrape."""
    return generate_latest(registry)
