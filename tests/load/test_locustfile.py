"""scenarios/locustfile.py under plain `locust -f`: headless with a run time, and the web UI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from harness.results import LoadResults
from tests.fakes.chat_server import running_fake

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = str(ROOT / "scenarios" / "locustfile.py")
FACTOR = float(os.environ.get("CHATBENCH_TIMEOUT_FACTOR", "1"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_plain_locust_headless_writes_results(tmp_path):
    with running_fake() as url:
        cmd = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--host", url]
        cmd += ["-u", "4", "-r", "4", "-t", "4s", "--cb-rate", "4", "--cb-out", str(tmp_path)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60 * FACTOR)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = LoadResults.model_validate_json((tmp_path / "results.json").read_text())
    assert doc.deliveries.expected == doc.deliveries.delivered > 0
    assert doc.deliveries.lost == 0


@pytest.mark.slow
def test_plain_locust_speaks_the_profile_given_with_cb_profile(tmp_path):
    from tests.servers.socketio_chat import running_socketio_chat

    with running_socketio_chat() as url:
        cmd = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--host", url]
        cmd += ["-u", "4", "-r", "4", "-t", "4s", "--cb-rate", "4", "--cb-out", str(tmp_path)]
        cmd += ["--cb-profile", "socketio"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60 * FACTOR)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = LoadResults.model_validate_json((tmp_path / "results.json").read_text())
    assert doc.deliveries.expected == doc.deliveries.delivered > 0
    assert doc.deliveries.lost == 0 and doc.rtt_latency_us.count == 0  # Socket.IO: no echo
    assert doc.config["profile"]["name"] == "socketio"


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_for(url: str, deadline: float) -> None:
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # poll interval while Locust's web UI starts


@pytest.mark.slow
def test_web_ui_shows_the_chatbench_tab():
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    with running_fake() as url:
        cmd = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--host", url, "--cb-rate", "4"]
        cmd += ["--web-host", "127.0.0.1", "--web-port", str(port)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(web, time.monotonic() + 30 * FACTOR)
            with urllib.request.urlopen(web, timeout=5) as page:
                assert b"chatbench" in page.read()
            form = urllib.parse.urlencode({"user_count": 4, "spawn_rate": 4, "host": url})
            urllib.request.urlopen(f"{web}/swarm", data=form.encode(), timeout=5).close()
            deadline = time.monotonic() + 20 * FACTOR
            while True:
                stats = get_json(f"{web}/stats/requests")
                rows = stats.get("extended_stats", [{}])[0].get("data", [])
                names = {row["name"] for row in stats["stats"]}
                delivered = any(row["delivered"] > 0 for row in rows)
                if (delivered and "message rtt" in names) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)  # Locust's UI polls the same way
        finally:
            proc.terminate()
            proc.wait(15)
    assert any(row["delivered"] > 0 and row["p99_ms"] > 0 for row in rows), stats
    assert "message rtt" in names
