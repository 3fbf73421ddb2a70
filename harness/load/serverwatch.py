"""Server telemetry of a load run: a thread of the `chatbench load` parent process samples the
server (`--server-pid`, `--server-metrics`) while the Locust child runs.

The sampler keeps wall-clock stamps; `telemetry()` puts them on the clock of results.json's
`timeseries` (seconds since `config.start_s`, the epoch second the run started) once the child
has written it, and adds the leak verdict (`leak.py`). A sample before the run (the baseline)
has `t` at or before the run's first second; samples after its end show the server settling.
Nothing here ever raises on a server that misbehaves: a failed reading is an error string.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harness import validate as validate_value
from harness.errors import UsageError
from harness.load import leak
from harness.load.server_sources import (
    MetricsSource,
    PidSource,
    Reading,
    SampleError,
    Source,
    base_name,
    empty_reading,
)
from harness.redact import redact_url

MAX_ERRORS = 10
SETTLE_S = 5.0
"""How long after the run the sampler waits for the server to close what the run opened."""
BASELINE_READS = 5
BASELINE_GAP_S = 0.1
"""The baseline is a descriptor count two readings this far apart agree on (at most
BASELINE_READS readings): one reading can catch a file the server has open for a moment (a
module it imports on its first connection, the preflight's socket being closed), and a count
one too high before the run reads as a descriptor the run closed, one too low as one it left."""


@dataclass
class Sampler:
    """Reads every source each `interval` seconds in a daemon thread."""

    sources: list[Source]
    interval: float = 1.0
    samples: list[tuple[float, Reading]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _dead: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _baseline: int | None = None

    @property
    def name(self) -> str:
        """What was sampled ("pid 1234", the metrics URL, or both)."""
        return " + ".join(s.name for s in self.sources)

    def start(self) -> None:
        """Take the baseline now (see BASELINE_READS), then sample in the background."""
        self._baseline = self._settled_baseline()
        self._thread = threading.Thread(target=self._run, name="chatbench-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling (waits at most a scrape's timeout for the thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 5)

    def _settled_baseline(self) -> int | None:
        last = None
        for _ in range(BASELINE_READS):
            reading = self.sample()
            fds = None if reading is None else reading["fds"]
            if fds is None or fds == last:
                return fds
            last = fds
            self._stop.wait(BASELINE_GAP_S)
        return None if last is None else min(self._fds_seen())  # never agreed: the fewest

    def _fds_seen(self) -> list[int]:
        with self._lock:
            return [r["fds"] for _, r in self.samples if r["fds"] is not None]

    def _run(self) -> None:
        next_at = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            self.sample()
            next_at = max(next_at + self.interval, time.monotonic())

    def sample(self) -> Reading | None:
        """One reading of every live source, merged (the first source's figures win); None
        when no source answered."""
        stamp, merged, got = time.time(), empty_reading(), False
        for source in self.sources:
            if source.name in self._dead:
                continue
            try:
                reading = source.read()
            except SampleError as exc:
                self._error(stamp, str(exc), source)
                continue
            except Exception as exc:  # a source's bug never stops the run
                self._error(stamp, f"{source.name}: {type(exc).__name__}: {exc}", source)
                continue
            got = True
            _merge(merged, reading)
        if not got:
            return None
        with self._lock:
            self.samples.append((stamp, merged))
        return merged

    def _error(self, stamp: float, text: str, source: Source) -> None:
        if text.endswith(" ended"):
            self._dead.add(source.name)  # a process that ended is not read again
        with self._lock:
            self.failures += 1
            if len(self.errors) < MAX_ERRORS:
                self.errors.append(f"{time.strftime('%H:%M:%S', time.gmtime(stamp))} {text}")

    def settle(self, baseline_fds: int | None, timeout: float = SETTLE_S) -> None:
        """After the run: sample until the server's descriptors are back to the baseline
        (or stop changing), at most `timeout` seconds."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline and not self.all_dead():
            fds = self.latest_fds()
            if fds is not None and (baseline_fds is None or fds <= baseline_fds or fds == last):
                return
            last = fds
            self._stop.wait(min(self.interval, 0.5))
            self.sample()

    def all_dead(self) -> bool:
        """Whether every source has ended."""
        return all(s.name in self._dead for s in self.sources)

    def snapshot(self) -> tuple[list[tuple[float, Reading]], list[str], int]:
        """The samples, the first errors and the count of failed readings, as of now."""
        with self._lock:
            return list(self.samples), list(self.errors), self.failures

    def baseline_fds(self) -> int | None:
        """Descriptors before the run (two readings agreeing), None if unknown."""
        return self._baseline

    def latest_fds(self) -> int | None:
        """Descriptors of the last sample (None if unknown)."""
        with self._lock:
            return self.samples[-1][1]["fds"] if self.samples else None


def _merge(into: Reading, reading: Reading) -> None:
    for key in ("cpu", "rss_bytes", "fds", "connections"):
        if into[key] is None:
            into[key] = reading[key]
    into["metrics"] = {**reading["metrics"], **into["metrics"]}


def wanted(args: argparse.Namespace) -> bool:
    """Whether the command line asks for server telemetry."""
    return args.server_pid is not None or bool(args.server_metrics) or bool(args.server_metric)


def validate(args: argparse.Namespace) -> None:
    """UsageError for telemetry flags that cannot work (before anything starts)."""
    if args.server_metric and not args.server_metrics:
        raise UsageError("--server-metric NAME needs --server-metrics URL")
    if args.server_metrics and urlsplit(args.server_metrics).scheme not in ("http", "https"):
        shown = redact_url(args.server_metrics)
        raise UsageError(f"--server-metrics {shown}: expected http://HOST:PORT/metrics")
    if args.server_pid is not None and args.server_pid < 1:
        raise UsageError("--server-pid must be a process id (at least 1)")
    validate_value.positive("--server-interval", args.server_interval)
    if args.prometheus_port is not None:
        validate_value.port("--prometheus-port", args.prometheus_port)
        _port_free(args.prometheus_port)


def _port_free(port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind(("", port))
        except OSError as exc:
            raise UsageError(f"--prometheus-port {port}: {exc.strerror or exc}") from None


def begin(args: argparse.Namespace) -> Sampler | None:
    """Start sampling the server the flags name (None without them); UsageError when it
    cannot be read at all."""
    if not wanted(args):
        return None
    found: list[Source] = []
    if args.server_pid is not None:
        found.append(PidSource(args.server_pid))
    if args.server_metrics:
        timeout = min(max(0.8 * args.server_interval, 0.5), 2.0)  # a busy server answers late
        found.append(MetricsSource(args.server_metrics, args.server_metric, timeout))
    sampler = Sampler(found, args.server_interval)
    sampler.start()
    return sampler


def end(sampler: Sampler | None) -> None:
    """The run is over: let the server settle (sampling), then stop."""
    if sampler is None:
        return
    try:
        sampler.settle(sampler.baseline_fds())
    finally:
        sampler.stop()


def telemetry(sampler: Sampler, doc: dict[str, Any]) -> dict[str, Any]:
    """results.json's `server` (harness.results.ServerTelemetry) for the run of `doc`."""
    start = float(doc.get("config", {}).get("start_s") or 0.0)
    samples, errors, failures = sampler.snapshot()
    series = [{"t": round(stamp - start, 3), **reading} for stamp, reading in samples]
    if failures > len(errors):
        errors.append(f"... {failures - len(errors)} more failed samples")
    errors += _never_scraped(sampler, series)
    return {
        "source": sampler.name,
        "interval_s": sampler.interval,
        "timeseries": series,
        "errors": errors,
        "leak": _leak(sampler, series, doc),
    }


def _leak(sampler: Sampler, series: list[dict[str, Any]], doc: dict[str, Any]) -> dict[str, Any]:
    """The leak verdict; unknown when the server was restarted mid-run (`--restart-at`): a
    new process's memory and descriptors say nothing of what the old one kept."""
    if doc.get("config", {}).get("restarts"):
        why = "the server was restarted during the run (--restart-at): its memory started again"
        return {"verdict": "unknown", "reason": why, "fd_growth": None}
    rows = doc.get("timeseries", [])
    return leak.verdict(series, rows, leak.window(doc), sampler.baseline_fds())


def _never_scraped(sampler: Sampler, series: list[dict[str, Any]]) -> list[str]:
    """A line for every --server-metric name no scrape had (a typo, or a label-less guess)."""
    seen = {base_name(key) for sample in series for key in sample["metrics"]}
    return [
        f"--server-metric {name}: in no scrape of {source.name}"
        for source in sampler.sources
        if isinstance(source, MetricsSource)
        for name in sorted(source.asked - seen)
    ]


def summary(server: dict[str, Any]) -> str:
    """One line on the server: the leak verdict, descriptors left open, failed samples."""
    leak_ = server.get("leak") or {}
    growth = leak_.get("fd_growth")
    parts = [
        f"server {server['source']}: leak verdict {leak_.get('verdict')} ({leak_.get('reason')})"
    ]
    parts.append(f"descriptors left open {'unknown' if growth is None else growth}")
    if server.get("errors"):
        parts.append(f"sampling errors: {server['errors'][0]}")
    return "; ".join(parts)
