"""Server telemetry sources: a real process (psutil) and a real Prometheus endpoint."""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry, Gauge, ProcessCollector, start_http_server
from websockets.sync.client import connect

from harness.errors import UsageError
from harness.load.server_sources import MetricsSource, PidSource, SampleError, parse_samples
from harness.load.serverwatch import Sampler
from tests.load.servers import FACTOR, free_port, leaky_server


def test_a_process_is_read_with_its_connections():
    with leaky_server("--keep-bytes", "0") as (pid, url):
        source = PidSource(pid)
        idle = source.read()
        with connect(f"{url}/ws/chat/r?username=a"), connect(f"{url}/ws/chat/r?username=b"):
            busy = _poll(source, lambda r: r["connections"] == 2)
    assert idle["connections"] == 0 and busy["connections"] == 2
    assert busy["rss_bytes"] > 1_000_000 and busy["fds"] >= idle["fds"] + 2
    assert busy["cpu"] is not None and busy["cpu"] >= 0


def _poll(source, done, timeout=5 * FACTOR):
    deadline = time.monotonic() + timeout
    while True:
        reading = source.read()
        if done(reading) or time.monotonic() > deadline:
            return reading
        time.sleep(0.05)  # polling a process's state, bounded by the deadline


def test_a_pid_that_does_not_exist_is_a_usage_error():
    with leaky_server() as (pid, _):
        pass  # killed and reaped: the pid is free now
    with pytest.raises(UsageError, match=f"--server-pid {pid}: no such process"):
        PidSource(pid)


def test_a_process_that_ends_mid_run_is_an_error_not_a_crash():
    with leaky_server() as (pid, _):
        sampler = Sampler([PidSource(pid)], interval=0.05)
        sampler.start()
    deadline = time.monotonic() + 5 * FACTOR
    while not sampler.all_dead() and time.monotonic() < deadline:
        time.sleep(0.05)  # the sampler notices on its own; bounded
    sampler.stop()
    assert sampler.all_dead() and sampler.samples
    assert any(e.endswith(f"pid {pid} ended") for e in sampler.errors), sampler.errors
    assert sampler.failures == 1  # an ended process is not read again


@pytest.fixture
def exporter():
    """A prometheus_client endpoint with the process collector and one gauge."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    Gauge("chatbench_connections", "open", registry=registry).set(7)
    Gauge("other_gauge", "x", ["room"], registry=registry).labels("a").set(3)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield f"http://127.0.0.1:{port}/metrics"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_metrics_give_the_figures_and_the_chosen_names(exporter):
    source = MetricsSource(exporter, [], timeout=2)
    time.sleep(0.05)  # CPU is a rate: the second scrape needs a moment after the first
    reading = source.read()
    assert reading["connections"] == 7 and reading["rss_bytes"] > 1_000_000
    assert reading["fds"] > 3 and reading["cpu"] is not None and reading["cpu"] >= 0
    assert {"process_resident_memory_bytes", "chatbench_connections"} <= set(reading["metrics"])
    assert 'other_gauge{room="a"}' not in reading["metrics"]  # not in the default set
    chosen = MetricsSource(exporter, ["other_gauge"], timeout=2).read()
    assert chosen["metrics"] == {'other_gauge{room="a"}': 3.0}


def test_an_unreachable_metrics_url_is_a_usage_error():
    port = free_port()
    with pytest.raises(UsageError, match=f"--server-metrics http://127.0.0.1:{port}/metrics"):
        MetricsSource(f"http://127.0.0.1:{port}/metrics", [], timeout=1)


def test_a_metrics_endpoint_that_goes_away_is_recorded_as_errors(exporter):
    source = MetricsSource(exporter, [], timeout=1)
    source.url = f"http://127.0.0.1:{free_port()}/metrics"  # as if the server went down
    with pytest.raises(SampleError):
        source.read()
    sampler = Sampler([source], interval=1)
    sampler.sample()
    sampler.sample()
    assert sampler.failures == 2 and not sampler.samples and len(sampler.errors) == 2


def test_parse_samples_keeps_labels_sorted():
    text = 'x_total{b="2",a="1"} 3\n# TYPE g gauge\ng 1.5\n'
    assert parse_samples(text) == {'x_total{a="1",b="2"}': 3.0, "g": 1.5}


def test_a_metric_asked_for_and_never_scraped_is_said(exporter):
    from harness.load.serverwatch import telemetry

    sampler = Sampler([MetricsSource(exporter, ["other_gauge", "no_such_metric"], timeout=2)])
    sampler.sample()
    server = telemetry(sampler, {"config": {"start_s": 0}, "timeseries": []})
    assert server["errors"] == [f"--server-metric no_such_metric: in no scrape of {exporter}"]
    assert server["leak"]["verdict"] == "unknown"
