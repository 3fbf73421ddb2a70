"""Where server telemetry comes from: a local process (psutil) or a Prometheus endpoint.

A source's `read()` returns one reading (`ServerSample` fields but `t`) or raises
`SampleError` with one line on why it could not (the process ended, the scrape timed out).
`PidSource` and `MetricsSource` raise `UsageError` when built on a PID that does not exist or
a URL that does not answer: a user's mistake, caught before the run starts.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any, Protocol

import psutil
from prometheus_client.parser import text_string_to_metric_families

from harness.errors import UsageError
from harness.redact import redact_url

Reading = dict[str, Any]
"""`cpu`, `rss_bytes`, `fds`, `connections` (None when unknown) and `metrics`."""

CPU_COUNTER = "process_cpu_seconds_total"
DEFAULT_METRICS = (
    "process_resident_memory_bytes",
    "process_open_fds",
    CPU_COUNTER,
    "chatbench_connections",
    "chatbench_open_fds",
    "chatbench_rooms",
    "chatbench_members",
    "chatbench_connections_total",
    "chatbench_messages_relayed_total",
    "chatbench_evictions_total",
    "chatbench_refused_total",
    "chatbench_handshake_timeouts_total",
    "chatbench_redis_up",
)
"""Recorded without `--server-metric`: the standard process_* names of prometheus_client's
process collector and the reference server's own (docs/reference-server.md)."""

# ServerSample figure <- the metrics that give it, first found wins
_FIGURES = {
    "rss_bytes": ("process_resident_memory_bytes",),
    "fds": ("process_open_fds", "chatbench_open_fds"),
    "connections": ("chatbench_connections",),
}


class SampleError(Exception):
    """One reading failed; the message says why (it goes into results.json)."""


class Source(Protocol):
    """Something that reads the server's figures now."""

    name: str

    def read(self) -> Reading:
        """The figures as of now; SampleError when they cannot be read."""
        ...


def empty_reading() -> Reading:
    """A reading with every figure unknown."""
    return {"cpu": None, "rss_bytes": None, "fds": None, "connections": None, "metrics": {}}


class PidSource:
    """A local process and its children (psutil): CPU, RSS, open fds, established TCP
    connections on the ports it listens on."""

    def __init__(self, pid: int) -> None:
        try:
            self.proc = psutil.Process(pid)
            self.proc.memory_info()
        except psutil.NoSuchProcess:
            raise UsageError(f"--server-pid {pid}: no such process") from None
        except psutil.AccessDenied:
            raise UsageError(f"--server-pid {pid}: not allowed to read that process") from None
        self.name = f"pid {pid}"
        self._cpu: dict[int, psutil.Process] = {}
        self._family()  # prime cpu_percent

    def read(self) -> Reading:
        """Sum over the process and its children; SampleError once the process is gone."""
        try:
            family = self._family()
            reading = empty_reading()
            reading["cpu"] = round(sum(_quiet(p.cpu_percent, 0.0) for p in family), 1)
            reading["rss_bytes"] = sum(_quiet(lambda p=p: p.memory_info().rss, 0) for p in family)
            reading["fds"] = sum(_quiet(p.num_fds, 0) for p in family)
            reading["connections"] = _established(family)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            raise SampleError(f"{self.name} ended") from None
        except psutil.AccessDenied as exc:
            raise SampleError(f"{self.name}: access denied ({exc})") from None
        return reading

    def _family(self) -> list[psutil.Process]:
        """The process and its live children, each once (kept, so cpu_percent has a base)."""
        if not self.proc.is_running() or self.proc.status() == psutil.STATUS_ZOMBIE:
            raise psutil.NoSuchProcess(self.proc.pid)  # a zombie has ended, reaped or not
        members = [self.proc, *_quiet(lambda: self.proc.children(recursive=True), [])]
        fresh = {p.pid: self._cpu.get(p.pid, p) for p in members}
        for p in fresh.values():
            if p.pid not in self._cpu:
                _quiet(p.cpu_percent, 0.0)  # the first call only starts the count
        self._cpu = fresh
        return list(fresh.values())


def _quiet(call: Any, default: Any) -> Any:
    """`call()`, or `default` when a child ended meanwhile (the parent's end is checked
    separately)."""
    try:
        return call()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return default


def _established(family: list[psutil.Process]) -> int:
    """Established TCP connections whose local port is one the family listens on."""
    conns = []
    for p in family:
        get = getattr(p, "net_connections", None) or p.connections  # psutil < 6
        conns += _quiet(lambda get=get: get(kind="tcp"), [])
    listening = {c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN}
    return sum(
        1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr.port in listening
    )


class MetricsSource:
    """A Prometheus text-format endpoint, scraped with a short timeout."""

    def __init__(self, url: str, names: list[str], timeout: float) -> None:
        self.url, self.timeout = url, timeout
        self.name = redact_url(url)
        self.names = frozenset(names or DEFAULT_METRICS)
        self.asked = frozenset(names)
        """The names the user gave (--server-metric): one never scraped is worth saying."""
        self._cpu_last: tuple[float, float] | None = None
        try:
            self.read()
        except SampleError as exc:
            raise UsageError(f"--server-metrics {exc}") from None

    def read(self) -> Reading:
        """One scrape: the chosen samples, the figures they give, CPU as the counter's rate."""
        text, now = self._fetch(), time.monotonic()
        try:
            scraped = parse_samples(text)
        except ValueError as exc:
            raise SampleError(f"{self.name}: not Prometheus text format ({exc})") from None
        reading = empty_reading()
        reading["metrics"] = {k: v for k, v in scraped.items() if _base(k) in self.names}
        for figure, names in _FIGURES.items():
            value = next((scraped[n] for n in names if n in scraped), None)
            reading[figure] = None if value is None else int(value)
        reading["cpu"] = self._cpu_rate(scraped.get(CPU_COUNTER), now)
        return reading

    def _fetch(self) -> str:
        request = urllib.request.Request(self.url, headers={"Accept": "text/plain"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                body: bytes = resp.read(16 * 1024 * 1024)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            raise SampleError(f"{self.name}: {getattr(exc, 'reason', exc)}") from None
        return body.decode("utf-8", "replace")

    def _cpu_rate(self, seconds: float | None, now: float) -> float | None:
        """Percent of one core since the last scrape (None on the first, or without it)."""
        last, self._cpu_last = self._cpu_last, None if seconds is None else (now, seconds)
        if seconds is None or last is None or now <= last[0] or seconds < last[1]:
            return None
        return round(100.0 * (seconds - last[1]) / (now - last[0]), 1)


def parse_samples(text: str) -> dict[str, float]:
    """Every sample of an exposition text by name (labels in braces, sorted)."""
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}" if labels else s.name] = float(s.value)
    return samples


def base_name(key: str) -> str:
    """A recorded sample's metric name without its labels."""
    return _base(key)


def _base(key: str) -> str:
    return key.split("{", 1)[0]
