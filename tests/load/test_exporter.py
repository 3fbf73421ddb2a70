"""`--prometheus-port`: the live metrics, their numbers, a scrape during a real run, and the
Grafana dashboard that plots them (every metric it queries is exported by someone)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from harness.load import exporter, hist
from harness.load.aggregate import Aggregate, Second
from harness.load.server_sources import parse_samples
from tests.load.servers import FACTOR, free_port

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana-dashboard.json"
P = exporter.PREFIX


def _second(latencies_us: list[int], lost: int = 0, connections: int = 0) -> Second:
    second = Second()
    h = hist.new_histogram()
    for v in latencies_us:
        h.record_value(v)
    second.add({"fanout": {"4": hist.encode(h)}})
    second.counts.update(delivered=len(latencies_us), lost=lost)
    second.connections, second.cpu = connections, 12.5
    return second


def _collected(start_s: int = 0) -> SimpleNamespace:
    """collect.Collected's shape (that module imports Locust, which this process must not)."""
    return SimpleNamespace(aggregate=Aggregate(), start_s=start_s, workers=1)


def _scrape(collected: SimpleNamespace, now: float = 1002.5) -> dict[str, float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(exporter.LiveCollector(collected, lambda: now))
    return parse_samples(exporter.scrape_text(registry))


def test_counters_sum_the_seconds_and_the_histogram_buckets_every_latency():
    collected = _collected(1000)
    collected.aggregate.seconds = {
        1000: _second([300, 800, 1500], lost=1, connections=5),
        1001: _second([40_000, 3_000_000], lost=2, connections=6),
        1002: _second([100], connections=9),  # still filling: no gauge reads it
    }
    m = _scrape(collected)
    assert m[f"{P}delivered_total"] == 6 and m[f"{P}lost_total"] == 3
    assert m[f"{P}connections"] == 6 and m[f"{P}elapsed_seconds"] == 1
    assert m[f"{P}generator_cpu_percent"] == 12.5
    assert m[f"{P}fanout_p99_seconds"] == pytest.approx(3.0, rel=0.01)
    bucket = f"{P}fanout_latency_seconds_bucket"
    assert m[f'{bucket}{{le="0.0005"}}'] == 2  # 100 us and 300 us
    assert m[f'{bucket}{{le="0.001"}}'] == 3
    assert m[f'{bucket}{{le="0.002"}}'] == 4
    assert m[f'{bucket}{{le="0.05"}}'] == 5
    assert m[f'{bucket}{{le="5.0"}}'] == m[f'{bucket}{{le="+Inf"}}'] == 6
    assert m[f"{P}fanout_latency_seconds_count"] == 6
    assert m[f"{P}fanout_latency_seconds_sum"] == pytest.approx(3.0427, rel=0.01)
    late = hist.new_histogram()
    late.record_value(900)
    collected.aggregate.seconds[1001].add({"fanout": {"4": hist.encode(late)}})  # a late report
    assert _scrape(collected)[f'{bucket}{{le="0.001"}}'] == 4
    collected.workers = 2  # workers report late: the gauges read an older second
    assert _scrape(collected, now=1005.5)[f"{P}connections"] == 5
    assert _scrape(collected, now=1006.5)[f"{P}connections"] == 6


def test_an_empty_run_scrapes_zeros():
    m = _scrape(_collected())
    assert m[f"{P}delivered_total"] == 0 and m[f"{P}fanout_latency_seconds_count"] == 0
    assert set(exporter.exported_names()) >= {_family(k) for k in m}


def _family(sample: str) -> str:
    return sample.split("{", 1)[0]


_NOT_METRICS = {"by", "without", "on", "ignoring", "le", "bool", "and", "or", "unless", "offset"}


def dashboard_metrics() -> set[str]:
    """The metric names the dashboard's PromQL reads."""
    names = set()
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", target["expr"])
            for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", expr):
                if not m.group(2) and m.group(1) not in _NOT_METRICS:
                    names.add(m.group(1))
    return names


def test_every_metric_the_dashboard_queries_is_exported(reference_url):
    wanted = dashboard_metrics()
    load = {n for n in wanted if n.startswith(P)}
    assert load and load <= exporter.exported_names(), load - exporter.exported_names()
    metrics_url = reference_url.replace("ws://", "http://") + "/metrics"
    with urllib.request.urlopen(metrics_url, timeout=5 * FACTOR) as resp:
        served = {_family(k) for k in parse_samples(resp.read().decode())}
    server = wanted - load
    assert server and server <= served, server - served


@pytest.mark.slow
def test_a_run_serves_live_metrics_while_it_goes(reference_url, tmp_path):
    port = free_port()
    argv = [sys.executable, "-m", "harness.cli", "load", reference_url, "--users", "6"]
    argv += ["--rooms", "2", "--rate", "5", "--duration", "4", "--out", str(tmp_path)]
    argv += ["--prometheus-port", str(port), "--processes", "2"]
    log = tmp_path / "stderr.txt"
    with log.open("w") as err, subprocess.Popen(argv, stdout=err, stderr=err) as run:
        try:
            live = _poll_scrape(port, lambda m: m.get(f"{P}connections", 0) > 0, run)
        finally:
            assert run.wait(60 * FACTOR) == 0, log.read_text()[-2000:]
    families = {_family(k) for k in live}
    assert families == exporter.exported_names()
    assert dashboard_metrics() & families == {n for n in dashboard_metrics() if n.startswith(P)}
    assert live[f"{P}delivered_total"] > 0 and live[f"{P}fanout_latency_seconds_count"] > 0
    assert live[f"{P}lost_total"] == 0
    done = json.loads((tmp_path / "results.json").read_text())
    assert done["deliveries"]["delivered"] >= live[f"{P}delivered_total"]


def _poll_scrape(port, done, run, timeout=30 * FACTOR):
    deadline, last = time.monotonic() + timeout, {}
    while time.monotonic() < deadline and run.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                text = resp.read().decode()
            list(text_string_to_metric_families(text))  # valid exposition text
            last = parse_samples(text)
            if done(last):
                return last
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)  # polling the run's endpoint, bounded by the deadline
    raise AssertionError(f"no live metrics showed connections: {last}")
