"""`chatbench load` as a user drives it: output paths, --force, the console, `--`, signals.

Every run is a real Locust child process against the fake server on loopback, a few seconds
long; Locust is never imported here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from tests.fakes.chat_server import running_fake
from tests.load.test_load_command import chatbench_load

FACTOR = float(os.environ.get("CHATBENCH_TIMEOUT_FACTOR", "1"))
SHORT = ("--users", "4", "--rooms", "2", "--rate", "4", "--duration", "2")


def test_out_onto_a_file_is_one_line_exit_2(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("not a directory")
    proc = chatbench_load("ws://127.0.0.1:9", "--users", "3", "--out", str(target), timeout=30)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "not a directory" in proc.stderr


def test_out_under_a_file_is_one_line_exit_2(tmp_path):
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "missing" / "run"
    proc = chatbench_load("ws://127.0.0.1:9", "--users", "3", "--out", str(out), timeout=30)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert f"{tmp_path / 'a-file'} is not a directory" in proc.stderr


def test_out_on_an_earlier_run_is_refused_without_force(tmp_path):
    (tmp_path / "results.json").write_text("{}")
    # refused before the server is even tried: nothing listens on port 9
    proc = chatbench_load("ws://127.0.0.1:9", "--users", "3", "--out", str(tmp_path), timeout=30)
    assert proc.returncode == 2 and "--force" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert (tmp_path / "results.json").read_text() == "{}"  # untouched


@pytest.mark.slow
def test_force_overwrites_an_earlier_run_and_the_console_stays_quiet(tmp_path):
    (tmp_path / "results.json").write_text("{}")
    (tmp_path / "locust.log").write_text("an earlier run's log\n")
    with running_fake() as url:
        proc = chatbench_load(url, *SHORT, "--out", str(tmp_path), "--force")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["deliveries"]["delivered"] > 0
    log = (tmp_path / "locust.log").read_text()
    assert "earlier run" not in log and "Run time limit" in log  # Locust's own lines
    console = proc.stdout + proc.stderr
    for noise in ("Run time limit", "INFO/", "Not all users finished", "Aggregated"):
        assert noise not in console, console
    assert f"Locust's log: {tmp_path / 'locust.log'}" in proc.stderr
    progress = [line for line in proc.stderr.splitlines() if "[chatbench] t=" in line]
    assert progress and all("s/4s " in line for line in progress), proc.stderr  # 2 s + drain 2


@pytest.mark.slow
def test_verbose_and_arguments_after_the_double_dash_reach_locust(tmp_path):
    with running_fake() as url:
        proc = chatbench_load(
            url, *SHORT, "--out", str(tmp_path), "--verbose", "--", "--loglevel", "DEBUG"
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "DEBUG/" in proc.stderr and "Run time limit" in proc.stderr
    assert not (tmp_path / "locust.log").exists()


def test_the_double_dash_of_other_commands_keeps_its_meaning():
    from harness.cli import _split_passthrough, build_parser

    parser = build_parser()
    argv = ["check", "--", "ws://127.0.0.1:9"]
    assert _split_passthrough(parser, argv) == (argv, [])  # the end of options, as ever
    load = ["load", "ws://h:1", "--out", "d", "--", "--loglevel", "DEBUG"]
    assert _split_passthrough(parser, load) == (load[:4], ["--loglevel", "DEBUG"])
    cmd = [sys.executable, "-m", "harness.cli", "schema", "--", "--loglevel", "DEBUG"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30 * FACTOR)
    assert proc.returncode == 2 and "unrecognized arguments" in proc.stderr


@pytest.mark.slow
def test_a_locustfile_that_cannot_load_shows_its_traceback(tmp_path):
    bad = tmp_path / "bad_locustfile.py"
    bad.write_text("from harness.load.users import MixedChatUser\nraise RuntimeError('boom')\n")
    with running_fake() as url:
        proc = chatbench_load(url, *SHORT, "--out", str(tmp_path / "run"), "--locustfile", str(bad))
    assert proc.returncode == 2
    assert "RuntimeError: boom" in proc.stderr
    assert "the Locust output above" in proc.stderr.splitlines()[-1]


@pytest.mark.slow
def test_an_error_during_the_run_reaches_the_console(tmp_path):
    """Locust logs a failing listener at ERROR: that and its traceback are not noise."""
    users = tmp_path / "erring_locustfile.py"
    users.write_text(
        "from locust import events\n"
        "from harness.load.users import MixedChatUser\n\n"
        "class ChatUser(MixedChatUser):\n    pass\n\n"
        "@events.test_start.add_listener\n"
        "def _boom(**_):\n    raise RuntimeError('boom in a listener')\n"
    )
    with running_fake() as url:
        proc = chatbench_load(
            url, *SHORT, "--out", str(tmp_path / "run"), "--locustfile", str(users)
        )
    assert "RuntimeError: boom in a listener" in proc.stderr, proc.stderr[-3000:]
    assert "Run time limit" not in proc.stderr  # the INFO lines still go to the log only
    assert "boom in a listener" in (tmp_path / "run" / "locust.log").read_text()


@contextmanager
def load_in_background(url: str, out: Path, *extra: str) -> Iterator[subprocess.Popen[str]]:
    cmd = [sys.executable, "-m", "harness.cli", "load", url, "--users", "4", "--rooms", "2"]
    cmd += ["--rate", "4", "--duration", "30", "--out", str(out), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def wait_for_progress(proc: subprocess.Popen[str], deadline: float) -> list[str]:
    """The child's stderr lines up to its first progress line."""
    assert proc.stderr is not None
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()  # the child prints a progress line every 2 s
        if not line:
            break
        seen.append(line)
        if "[chatbench] t=" in line:
            return seen
    raise AssertionError(f"no progress line: {seen}")


def descendants(pid: int) -> list[psutil.Process]:
    return [p for p in psutil.Process(pid).children(recursive=True)]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "extra", "bound_s"),
    [
        (signal.SIGTERM, (), 2.0),
        (signal.SIGINT, (), 2.0),
        (signal.SIGTERM, ("--processes", "2"), 5.0),  # the master awaits its workers
    ],
)
def test_a_signal_stops_the_run_and_writes_incomplete_results(tmp_path, signum, extra, bound_s):
    with running_fake() as url, load_in_background(url, tmp_path, *extra) as proc:
        wait_for_progress(proc, time.monotonic() + 40 * FACTOR)
        children = descendants(proc.pid)
        assert children  # the Locust child (and its workers) are running
        sent = time.monotonic()
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=15 * FACTOR)
        stopped_after = time.monotonic() - sent
    assert proc.returncode == 128 + signum, stderr[-3000:]
    assert stopped_after < bound_s * FACTOR, stderr[-3000:]
    survivors = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not survivors
    doc = json.loads((tmp_path / "results.json").read_text())
    config = doc["config"]
    assert config["incomplete"] is True
    assert config["planned_duration_s"] == 30
    assert 0 < config["duration_s"] < 30
    assert doc["deliveries"]["delivered"] > 0 and doc["slo"] == []
    assert f"incomplete run: stopped by {signal.Signals(signum).name}" in stdout


@pytest.mark.slow
def test_slo_gates_of_an_interrupted_run_are_judged_on_what_was_collected(tmp_path):
    gates = ("--slo", "lost==0", "--slo", "p99<1ms")
    with running_fake() as url, load_in_background(url, tmp_path, *gates) as proc:
        wait_for_progress(proc, time.monotonic() + 40 * FACTOR)
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=15 * FACTOR)
    assert proc.returncode == 143
    gates = {g["expr"]: g for g in json.loads((tmp_path / "results.json").read_text())["slo"]}
    assert gates["lost==0"]["ok"] is True
    assert gates["p99<1ms"]["value"] > 0
    assert "slo ok   lost==0" in stdout  # even a held gate does not make it green: exit 143


@pytest.mark.parametrize(("reported", "code"), [(1, 1), (2, 0)])
def test_a_run_missing_a_final_report_is_never_green(capsys, tmp_path, reported, code):
    from harness.commands.load import verdict
    from tests.load.test_load_command import verdict_doc

    doc = verdict_doc()
    doc["config"] = {"processes": 2, "processes_reported": reported, "incomplete": reported < 2}
    assert verdict(doc, tmp_path / "results.json") == code
    said = "incomplete run: 1 of 2 Locust processes sent their final report"
    assert (said in capsys.readouterr().out) == (code == 1)


def test_a_url_with_a_path_says_what_was_tried_and_hints_at_the_template(tmp_path):
    with running_fake() as url:
        proc = chatbench_load(f"{url}/ws/chat/foo", "--users", "2", "--out", str(tmp_path))
        plain = chatbench_load(
            url, "--users", "2", "--out", str(tmp_path / "p"), "--path-template", "/nothing/{room}"
        )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "/ws/chat/foo/ws/chat/cbpreflight" in proc.stderr  # what was tried
    assert "the URL's path /ws/chat/foo comes before the profile's" in proc.stderr
    assert "--path-template" in proc.stderr
    assert plain.returncode == 2 and "the URL's path" not in plain.stderr  # no path, no hint


@pytest.mark.slow
def test_sigterm_to_a_served_run_stops_the_served_server_too(tmp_path):
    cmd = [sys.executable, "-m", "harness.cli", "load", "--serve", "--users", "2", "--rooms", "1"]
    cmd += ["--duration", "30", "--out", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_progress(proc, time.monotonic() + 40 * FACTOR)
        children = descendants(proc.pid)
        assert len(children) >= 2  # the served server and the Locust child
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20 * FACTOR)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr[-3000:]
    assert not [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert json.loads((tmp_path / "results.json").read_text())["config"]["incomplete"] is True


def test_sigterm_before_the_locust_child_runs_is_exit_143_and_cleans_up():
    """The window before the child (preflight, a served server starting): Interrupted."""
    code = (
        "import os, signal, sys\n"
        "from harness.errors import Interrupted\n"
        "from harness.load import child\n"
        "try:\n"
        "    with child.interruptible():\n"
        "        try:\n"
        "            os.kill(os.getpid(), signal.SIGTERM)\n"
        "            signal.pause()\n"
        "        finally:\n"
        "            print('cleaned up')\n"
        "except Interrupted as exc:\n"
        "    sys.exit(128 + exc.signum)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30 * FACTOR
    )
    assert proc.returncode == 143 and proc.stdout == "cleaned up\n", proc.stderr
