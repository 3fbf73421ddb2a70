"""`chatbench load --server-pid / --server-metrics` end to end: a server that keeps what every
closed connection had is called a leak with its size; the reference server is not; the
reference server's /metrics is scraped into results.json; a bad PID or URL is exit 2."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.load.server_sources import PidSource
from harness.results import LoadResults
from tests.load.servers import FACTOR, free_port, leaky_server, reference_server
from tests.load.test_load_command import chatbench_load

KEEP = 65536
CHURN = ["--users", "40", "--rooms", "4", "--rate", "2", "--duration", "8"]
CHURN += ["--churn", "0.5", "--churn-interval", "0.2", "--server-interval", "0.25"]
GATES = ["--slo", "server_bytes_per_churned_conn<16384", "--slo", "server_fd_growth==0"]


def churn_run(url: str, out: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = chatbench_load(url, *CHURN, "--out", str(out), *GATES, *extra)
    assert (out / "results.json").exists(), proc.stderr[-3000:]
    doc = json.loads((out / "results.json").read_text())
    LoadResults.model_validate(doc)
    return proc.returncode, doc


def assert_on_the_runs_clock(doc: dict[str, Any]) -> None:
    """Server connections match the client side's, second by second, in the steady part."""
    rows = {int(r["t"]): r for r in doc["timeseries"]}
    samples = doc["server"]["timeseries"]
    # a baseline before the load (t=0 is the start of the run's first second), settling after
    assert samples[0]["t"] < 1 and samples[0]["connections"] == 0
    assert samples[-1]["t"] > doc["timeseries"][-1]["t"] and samples[-1]["connections"] == 0
    steady = [s for s in samples if 2 <= s["t"] <= 7]
    assert len(steady) >= 10  # every 0.25 s, some late on a busy machine
    for s in steady:
        # the churners (20) come and go; the other 20 are always connected
        assert abs(s["connections"] - rows[int(s["t"])]["connections"]) <= 20, s


@pytest.mark.slow
def test_a_server_keeping_closed_sockets_is_a_leak_of_what_it_keeps(tmp_path):
    with leaky_server("--keep-bytes", str(KEEP), "--keep-fds") as (pid, url):
        code, doc = churn_run(url, tmp_path, "--server-pid", str(pid))
    leak = doc["server"]["leak"]
    assert leak["verdict"] == "leak", leak
    assert leak["bytes_per_churned_conn"] == pytest.approx(KEEP, rel=0.3), leak
    assert leak["churned_connections"] >= 50
    assert leak["fd_growth"] >= leak["churned_connections"]  # every one kept open
    assert code == 1 and [g["ok"] for g in doc["slo"]] == [False, False]
    assert doc["server"]["source"] == f"pid {pid}" and doc["server"]["errors"] == []
    assert_on_the_runs_clock(doc)


@pytest.mark.slow
def test_the_reference_server_leaks_nothing_and_its_metrics_are_recorded(tmp_path):
    with reference_server() as (pid, url):
        metrics = url.replace("ws://", "http://") + "/metrics"
        # two Locust workers: the parent samples the server all the same
        flags = ["--server-pid", str(pid), "--server-metrics", metrics, "--processes", "2"]
        code, doc = churn_run(url, tmp_path, *flags)
    server = doc["server"]
    assert server["leak"]["verdict"] == "none", server["leak"]
    assert server["leak"]["fd_growth"] == 0 and server["leak"]["churned_connections"] >= 50
    assert code == 0, doc["slo"]
    assert server["source"] == f"pid {pid} + {metrics}"
    # on a busy machine a scrape may time out now and then: said, and nothing else goes wrong
    assert all(e.endswith(f"{metrics}: timed out") for e in server["errors"]), server["errors"]
    scraped = [s["metrics"] for s in server["timeseries"]]
    assert sum(1 for m in scraped if m) >= 0.8 * len(scraped)
    scraped = [m for m in scraped if m]
    assert max(m["chatbench_connections"] for m in scraped) >= 20
    relayed = [m["chatbench_messages_relayed_total"] for m in scraped]
    assert relayed == sorted(relayed) and relayed[-1] > 0
    assert_on_the_runs_clock(doc)


@pytest.mark.slow
def test_a_server_that_dies_mid_run_is_recorded_not_a_crash(tmp_path):
    with leaky_server() as (pid, url):
        argv = [sys.executable, "-m", "harness.cli", "load", url, *CHURN[:8]]
        argv += ["--out", str(tmp_path), "--server-pid", str(pid), "--slo", "server_fd_growth==0"]
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as run:
            assert run.stdout is not None
            _wait_for_samples(pid, run)
            os.kill(pid, signal.SIGKILL)
            out, _ = run.communicate(timeout=90 * FACTOR)
    doc = json.loads((tmp_path / "results.json").read_text())
    server = doc["server"]
    assert any(e.endswith(f"pid {pid} ended") for e in server["errors"]), server["errors"]
    assert server["timeseries"] and server["leak"]["fd_growth"] is None
    [gate] = doc["slo"]
    assert gate["ok"] is False and "not judged" in gate["reason"]
    assert run.returncode == 1 and "harness error" not in out.decode()


def _wait_for_samples(pid: int, run: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until the run's users are connected to the server (psutil sees them), bounded."""
    source, deadline = PidSource(pid), time.monotonic() + timeout * FACTOR
    while source.read()["connections"] < 10:
        assert run.poll() is None and time.monotonic() < deadline, "the run did not start"
        time.sleep(0.1)  # polling the server's connections, bounded
    time.sleep(1)  # a second of samples before the server dies (the point of the test)


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--server-pid", "999999999"], "--server-pid 999999999: no such process"),
        (["--server-metrics", "http://127.0.0.1:{port}/metrics"], "--server-metrics http://"),
        (["--server-metrics", "ftp://x/metrics"], "expected http://HOST:PORT/metrics"),
        (["--server-metric", "x"], "--server-metric NAME needs --server-metrics URL"),
        (["--worker", "--server-pid", "1"], "server telemetry and --prometheus-port belong to"),
        (["--prometheus-port", "0"], "--prometheus-port"),
    ],
)
def test_a_server_that_cannot_be_read_is_a_usage_error(reference_url, tmp_path, flags, says):
    flags = [f.format(port=free_port()) for f in flags]
    proc = chatbench_load(reference_url, "--users", "2", "--out", str(tmp_path), *flags)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and says in proc.stderr, proc.stderr
    assert not (tmp_path / "results.json").exists()


def test_a_prometheus_port_in_use_is_a_usage_error(reference_url, tmp_path):
    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = ["--users", "2", "--out", str(tmp_path), "--prometheus-port", str(port)]
        proc = chatbench_load(reference_url, *argv)
    assert proc.returncode == 2 and f"--prometheus-port {port}: " in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1
