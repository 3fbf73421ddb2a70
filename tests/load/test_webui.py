"""Locust's web UI with chatbench's users: `chatbench locust`, the start form's --cb-* options,
what Locust's own statistics show, and a web-UI run's results.json (a Stop, a SIGTERM).

Real Locust child processes on free loopback ports against the fake server; a few seconds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.chat_server import running_fake
from tests.load.test_locustfile import LOCUSTFILE, free_port, get_json, wait_for

FACTOR = float(os.environ.get("CHATBENCH_TIMEOUT_FACTOR", "1"))
CHATBENCH_LOCUST = [sys.executable, "-m", "harness.cli", "locust"]
PLAIN_LOCUST = [sys.executable, "-m", "locust", "-f", LOCUSTFILE]


@contextmanager
def web_ui(command: list[str], url: str, *extra: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """Locust's web UI on a free port; yields its base URL and the process."""
    port = free_port()
    cmd = [*command, "--host", url, "--web-host", "127.0.0.1", "--web-port", str(port), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    web = f"http://127.0.0.1:{port}"
    try:
        wait_for(web, time.monotonic() + 30 * FACTOR)
        yield web, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=15 * FACTOR)


def template_args(web: str) -> dict[str, Any]:
    """The settings Locust's start page is built from (`window.templateArgs`)."""
    with urllib.request.urlopen(web, timeout=5) as page:
        html = page.read().decode()
    match = re.search(r"window\.templateArgs = (\{.*\})", html)
    assert match, html[:2000]
    return dict(json.loads(match.group(1)))


def swarm(web: str, **form: Any) -> None:
    body = urllib.parse.urlencode(form).encode()
    with urllib.request.urlopen(f"{web}/swarm", data=body, timeout=5) as response:
        assert json.loads(response.read())["success"]


def stats_once_delivering(web: str, deadline: float) -> dict[str, Any]:
    """/stats/requests once the chatbench tab shows a delivery and Locust an rtt event."""
    while True:
        stats = get_json(f"{web}/stats/requests")
        rows = stats.get("extended_stats", [{}])[0].get("data", [])
        names = {row["name"] for row in stats["stats"]}
        if any(r["delivered"] > 0 for r in rows) and "message rtt" in names:
            return stats
        assert time.monotonic() < deadline, stats
        time.sleep(0.5)  # Locust's UI polls the same way


@pytest.mark.slow
@pytest.mark.parametrize("command", [CHATBENCH_LOCUST, PLAIN_LOCUST], ids=["chatbench", "plain"])
def test_the_start_form_offers_the_cb_options(command):
    with running_fake() as url, web_ui(command, url) as (web, _):
        args = template_args(web)
    options = args["extra_options"]
    for name in ("cb_rate", "cb_duration", "cb_rooms", "cb_churn", "cb_out", "cb_profile"):
        assert name in options, sorted(options)
    assert options["cb_rate"]["default_value"] == 1.0
    assert options["cb_timing"]["choices"] == ["open", "closed"]
    for internal in ("cb_config", "cb_rooms_plan", "cb_quiet", "cb_header"):
        assert internal not in options
    assert {"title": "chatbench", "key": "chatbench"} in args["extendedTabs"]


@pytest.mark.slow
def test_a_web_ui_run_stopped_by_sigterm_writes_incomplete_results(tmp_path):
    with running_fake() as url, web_ui(CHATBENCH_LOCUST, url, "--cb-out", str(tmp_path)) as ui:
        web, proc = ui
        swarm(web, user_count=4, spawn_rate=4, host=url, cb_rate=3, cb_duration=30)
        stats = stats_once_delivering(web, time.monotonic() + 20 * FACTOR)
        proc.send_signal(signal.SIGTERM)
        proc.wait(10 * FACTOR)
    # fan-out latency is chatbench's figure, in its own tab: Locust's table holds requests
    # whose response time and size are what they say (round trips, no payload size)
    assert {row["name"] for row in stats["stats"]} <= {"message rtt", "Aggregated"}
    assert all(row["avg_content_length"] == 0 for row in stats["stats"])
    config = json.loads((tmp_path / "results.json").read_text())["config"]
    assert config["incomplete"] is True
    assert config["users"] == 4 and config["rate"] == 3.0 and config["url"] == url
    assert config["planned_duration_s"] == 30 and 0 < config["duration_s"] < 30


@pytest.mark.slow
def test_a_web_ui_run_until_stop_is_complete(tmp_path):
    """Without --cb-duration the send phase lasts until Stop: pressing it is the plan."""
    with running_fake() as url, web_ui(PLAIN_LOCUST, url, "--cb-out", str(tmp_path)) as (web, _):
        swarm(web, user_count=3, spawn_rate=3, host=url, cb_rate=4)
        stats_once_delivering(web, time.monotonic() + 20 * FACTOR)
        urllib.request.urlopen(f"{web}/stop", data=b"", timeout=5).close()  # a POST
        results = Path(tmp_path / "results.json")
        deadline = time.monotonic() + 10 * FACTOR
        while not results.exists():
            assert time.monotonic() < deadline
            time.sleep(0.2)  # the stop settles the ledger, then writes
    config = json.loads(results.read_text())["config"]
    assert config["incomplete"] is False and config["users"] == 3
    assert config["duration_s"] == config["elapsed_s"] > 0


ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ("pyproject.toml", "README.md", "harness", "scenarios", "reports", "reference_server")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """chatbench as `pip install` leaves it: a wheel built from a copy of the sources,
    installed into a directory of its own (no checkout, no scenarios/ to point at)."""
    import shutil

    base = tmp_path_factory.mktemp("installed")
    src = base / "src"
    src.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in PACKAGED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=skip)
        else:
            shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", str(src), "-w", str(base)]
    subprocess.run(build, check=True, capture_output=True, timeout=120 * FACTOR)
    wheel = next(base.glob("chatbench-*.whl"))
    target = base / "site"
    install = [*pip, "install", "--no-deps", "--target", str(target), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=120 * FACTOR)
    return target


@pytest.mark.slow
def test_an_installed_chatbench_serves_locusts_web_ui(installed, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(installed)}
    where = [sys.executable, "-c", "import harness.commands.load as m; print(m.locustfile())"]
    found = subprocess.run(where, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert found.stdout.startswith(str(installed)), found  # the packaged scenarios/locustfile.py
    port = free_port()
    cmd = [sys.executable, "-m", "harness.cli", "locust", "--web-host", "127.0.0.1"]
    cmd += ["--web-port", str(port)]
    with running_fake() as url:
        proc = subprocess.Popen(
            [*cmd, "--host", url], env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True
        )
        try:
            wait_for(f"http://127.0.0.1:{port}", time.monotonic() + 30 * FACTOR)
            args = template_args(f"http://127.0.0.1:{port}")
        finally:
            proc.terminate()
            proc.communicate(timeout=15 * FACTOR)
    assert args["available_user_classes"] == ["ChatUser"] and "cb_rate" in args["extra_options"]


def test_every_argument_after_locust_goes_to_locust():
    from harness.cli import build_parser
    from harness.commands.locust import argv

    given = ["--host", "ws://h:1", "-u", "5", "--headless", "-f", "mine.py", "--cb-rate", "2"]
    args, extra = build_parser().parse_known_args(["locust", *given])
    assert args.command == "locust" and extra == [] and args.locust_args == given
    command = argv(args.locust_args)
    assert command[1:4] == ["-m", "locust", "-f"] and command[4].endswith("locustfile.py")
    assert command[5:] == given  # a later -f (the user's own locustfile) wins in Locust
    assert argv(["--help"])[1] == "-c"  # Locust's help with the --cb-* options
