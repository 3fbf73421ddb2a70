"""`chatbench load --prometheus-port N`: live load metrics in Prometheus format while the run
goes, from the Locust master (or the single local process), for Grafana
(docs/grafana-dashboard.json).

Read at scrape time from what the process has merged so far (`collect.COLLECTED`): counters are
the sums over every merged second; gauges are the newest second every process has reported
(the last one ended on a local run, WORKER_LAG_S seconds further back with workers); the
fan-out latency histogram is every merged second's, in fixed buckets. A second's bucket counts
are computed once and again only when later reports change it, so a scrape costs little on a
long run. Workers do not serve: their seconds reach the master.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from harness.load.aggregate import Aggregate, Second

log = logging.getLogger("chatbench")
PREFIX = "chatbench_load_"
BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
"""Upper bounds of the fan-out latency histogram's buckets, in seconds."""

COUNTERS = {
    "sent": "messages sent",
    "delivered": "deliveries: a message reached a member it was owed to",
    "lost": "deliveries owed and never made (ledger)",
    "duplicated": "deliveries made twice (ledger)",
    "out_of_order": "deliveries out of their sender's order (ledger)",
    "leaked": "messages delivered to a member of another room (ledger)",
    "leave_missing": "abrupt disconnects nobody heard `left` for",
    "abrupt_disconnects": "connections chatbench dropped abruptly (churn)",
    "server_closes": "connections the server closed with a close frame",
    "connections_lost": "connections that ended without a close frame",
    "protocol_errors": "connections failed because the server broke RFC 6455",
    "reconnects": "connections reopened after the server ended the last one",
    "connect_errors": "failed connection attempts",
    "unsent": "messages due while the sender had no connection",
}
"""Per-second counts of results.json's timeseries, exported as PREFIX + name + _total."""
GAUGES = {
    "connections": "open connections of the load generator (newest complete second)",
    "generator_cpu_percent": "load generator CPU, percent of one core (busiest process)",
    "generator_saturated": "1 when the load generator's CPU was past the saturation mark",
    "fanout_p99_seconds": "fan-out latency p99 of the newest complete second",
    "elapsed_seconds": "seconds since the run started (the newest complete second)",
}
HISTOGRAM = "fanout_latency_seconds"
WORKER_LAG_S = 4
"""How far behind the newest second a worker's report may still arrive (Locust: every 3 s)."""


def exported_names() -> set[str]:
    """Every metric name a scrape can show (what the Grafana dashboard may query)."""
    names = {f"{PREFIX}{name}_total" for name in COUNTERS} | {PREFIX + g for g in GAUGES}
    return names | {f"{PREFIX}{HISTOGRAM}_{s}" for s in ("bucket", "sum", "count")}


class Merged(Protocol):
    """What the process merged so far (`collect.COLLECTED`; this module does not import it,
    since that imports Locust)."""

    aggregate: Aggregate
    start_s: int
    workers: int


class LiveCollector(Collector):
    """The run's metrics as of now, from `collected` (the master's merged seconds)."""

    def __init__(self, collected: Merged, clock: Callable[[], float] = time.time) -> None:
        self.collected, self.clock = collected, clock
        self._cache: dict[int, tuple[tuple[tuple[int, int], ...], list[int], float]] = {}

    def collect(self) -> Iterator[Metric]:
        """Counters, gauges and the fan-out histogram."""
        seconds = sorted(self.collected.aggregate.seconds.items())
        totals = dict.fromkeys(COUNTERS, 0)
        for _, second in seconds:
            for name in COUNTERS:
                totals[name] += int(second.counts.get(name, 0))
        for name, text in COUNTERS.items():
            yield CounterMetricFamily(PREFIX + name, text, value=totals[name])
        yield from self._gauges(seconds)
        yield self._histogram(seconds)

    def _gauges(self, seconds: list[tuple[int, Second]]) -> Iterator[Metric]:
        # the newest second every process has reported: workers report every 3 s
        settled = int(self.clock()) - (0 if self.collected.workers <= 1 else WORKER_LAG_S)
        newest = next((item for item in reversed(seconds) if item[0] < settled), None)
        second = newest[1] if newest else Second()
        h = second.fanout_all()
        p99 = h.get_value_at_percentile(99) / 1e6 if h.get_total_count() else 0.0
        values = {
            "connections": second.connections,
            "generator_cpu_percent": second.cpu,
            "generator_saturated": int(second.saturated),
            "fanout_p99_seconds": p99,
            "elapsed_seconds": (newest[0] - self.collected.start_s) if newest else 0,
        }
        for name, text in GAUGES.items():
            yield GaugeMetricFamily(PREFIX + name, text, value=values[name])

    def _histogram(self, seconds: list[tuple[int, Second]]) -> Metric:
        counts, total_us = [0] * (len(BUCKETS_S) + 1), 0.0
        live = set()
        for sec, second in seconds:
            live.add(sec)
            buckets, sum_us = self._buckets(sec, second)
            counts = [a + b for a, b in zip(counts, buckets, strict=True)]
            total_us += sum_us
        for gone in set(self._cache) - live:  # a new run (the web UI) started afresh
            del self._cache[gone]
        cumulative, running = [], 0
        for bound, n in zip((*map(str, BUCKETS_S), "+Inf"), counts, strict=True):
            running += n
            cumulative.append((bound, running))
        return HistogramMetricFamily(
            PREFIX + HISTOGRAM,
            "fan-out latency: send (scheduled) to arrival at each other member",
            buckets=cumulative,
            sum_value=total_us / 1e6,
        )

    def _buckets(self, sec: int, second: Second) -> tuple[list[int], float]:
        """The second's counts per bucket (not cumulative) and its latency sum (us), cached
        until the second changes."""
        sig = second.reports()
        cached = self._cache.get(sec)
        if cached is not None and cached[0] == sig:
            return cached[1], cached[2]
        counts, sum_us = [0] * (len(BUCKETS_S) + 1), 0.0
        for h in second.fanout.values():
            for item in h.get_recorded_iterator():
                value, n = item.value_iterated_to, item.count_at_value_iterated_to
                counts[_bucket(value / 1e6)] += n
                sum_us += value * n
        self._cache[sec] = (sig, counts, sum_us)
        return counts, sum_us


def _bucket(seconds: float) -> int:
    for i, bound in enumerate(BUCKETS_S):
        if seconds <= bound:
            return i
    return len(BUCKETS_S)


def serve(port: int, collected: Merged) -> CollectorRegistry | None:
    """Serve the live metrics on `port` (all interfaces); None, with an error logged, when the
    port cannot be had (the run goes on without them)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LiveCollector(collected))
    try:
        start_http_server(port, registry=registry)
    except OSError as exc:
        log.error("chatbench: --prometheus-port %d: %s; no live metrics", port, exc)
        return None
    log.info("chatbench: live metrics on http://0.0.0.0:%d/metrics", port)
    return registry


def scrape_text(registry: CollectorRegistry) -> str:
    """What a scrape of `registry` shows (for tests and debugging)."""
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()
