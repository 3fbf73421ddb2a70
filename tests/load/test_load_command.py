"""`chatbench load` end to end: a real server in this process, Locust in a child process.

Locust is never imported here (it monkey-patches the interpreter); every run is a bounded
subprocess on loopback with a handful of users for a few seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.commands.load import verdict
from harness.results import LoadResults
from tests.fakes.chat_server import running_fake
from tests.load.servers import free_port

FACTOR = float(os.environ.get("CHATBENCH_TIMEOUT_FACTOR", "1"))
QUIET = {"lost": 0, "duplicated": 0, "out_of_order": 0, "leaked": 0}


def chatbench_load(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "harness.cli", "load", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * FACTOR)


def run_load_proc(
    url: str, out: Path, *extra: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """A short run: 6 users in 2 rooms, 5 messages a second each, 3 s (then a 2 s drain)."""
    args = ["--users", "6", "--rooms", "2", "--rate", "5", "--duration", "3"]
    proc = chatbench_load(url, *args, "--out", str(out), *extra)
    results_file = out / "results.json"
    assert results_file.exists(), proc.stderr[-3000:]
    doc = json.loads(results_file.read_text())
    LoadResults.model_validate(doc)
    return proc, doc


def run_load(url: str, out: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    """`run_load_proc`'s exit code and results."""
    proc, doc = run_load_proc(url, out, *extra)
    return proc.returncode, doc


def ledger(doc: dict[str, Any]) -> dict[str, int]:
    d = doc["deliveries"]
    return {k: d[k] for k in QUIET}


@pytest.mark.slow
def test_reference_server_shows_zeros(reference_url, tmp_path):
    code, doc = run_load(
        reference_url,
        tmp_path,
        *("--churn", "0.34", "--churn-interval", "1", "--slow", "0.17"),
        *("--room-size", "1,2", "--slo", "lost==0"),
    )
    assert code == 0
    assert ledger(doc) == QUIET
    d = doc["deliveries"]
    assert d["expected"] == d["delivered"] > 0
    assert doc["cleanup"]["abrupt_disconnects"] > 0
    assert doc["cleanup"]["leave_missing"] == doc["cleanup"]["online_mismatches"] == 0
    receipts = doc["fanout_latency_us"]["count"] + doc["rtt_latency_us"]["count"]
    assert receipts >= d["delivered"]
    assert doc["rtt_latency_us"]["count"] > 0
    assert doc["slo"] == [{"expr": "lost==0", "value": 0.0, "ok": True, "reason": ""}]
    assert doc["broken"] == [] and d["replayed"] == 0
    c = doc["connections"]
    assert c["opened"] >= 6 and c["welcomed"] == c["opened"]
    assert (c["server_closes"], c["lost"], c["protocol_errors"]) == ({}, 0, {})
    assert (c["reconnects"], c["under_planned_s"], c["harness_errors"]) == (0, 0, 0)
    assert doc["sends"]["unsent"] == 0 and doc["sends"]["sent"] == doc["sends"]["scheduled"] > 0
    assert (tmp_path / "fanout.hlog").exists() and (tmp_path / "locust_stats.csv").exists()
    assert set(doc["by_room_size"]) == {"2", "4"}  # rooms sized 1:2
    rows = doc["timeseries"]
    assert max(r["connections"] for r in rows) >= 4 and sum(r["sent"] for r in rows) > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "counter", "extra"),
    [
        ("loss", "lost", ()),
        ("duplicate", "duplicated", ()),
        ("leak", "leaked", ()),
        ("no-echo", "lost", ()),  # the sender is a member too: its own copy is owed
        # rooms of two: every member hears one sender, so a swap breaks that sender's order
        ("reorder", "out_of_order", ("--users", "4")),
    ],
)
def test_each_ledger_fault_raises_its_counter(fault, counter, extra, tmp_path):
    with running_fake({fault}) as url:
        code, doc = run_load(url, tmp_path, *extra, "--slo", f"{counter}==0")
    observed = ledger(doc)
    assert observed[counter] > 0, observed
    others = {k: v for k, v in observed.items() if k != counter}
    assert set(others.values()) == {0}, observed
    assert doc["cleanup"]["online_mismatches"] == 0
    assert code == 1 and doc["slo"][0]["ok"] is False


@pytest.mark.slow
def test_ghost_members_after_abrupt_drops(tmp_path):
    with running_fake({"ghost-on-abrupt"}) as url:
        _, doc = run_load(
            url, tmp_path, "--churn", "0.34", "--churn-interval", "1", "--leave-deadline", "1"
        )
    cleanup = doc["cleanup"]
    assert cleanup["abrupt_disconnects"] > 0
    assert cleanup["leave_missing"] > 0
    assert ledger(doc) == QUIET


@pytest.mark.slow
def test_welcome_miscount(tmp_path):
    with running_fake({"welcome-miscount"}) as url:
        _, doc = run_load(url, tmp_path)
    assert doc["cleanup"]["online_mismatches"] > 0
    assert ledger(doc) == QUIET


@pytest.mark.slow
def test_missing_welcomes_are_counted_and_fail_the_run(tmp_path):
    with running_fake({"no-welcome"}) as url:
        proc, doc = run_load_proc(
            url,
            tmp_path,
            *("--connect-timeout", "1", "--duration", "2"),
            *("--slo", "lost==0", "--slo", "leave_missing==0"),
        )
    assert doc["cleanup"]["welcome_missing"] == 6
    assert doc["deliveries"]["expected"] == 0  # nobody is a member without a welcome
    assert proc.returncode == 1
    assert [v["ok"] for v in doc["slo"]] == [False, False]
    assert doc["slo"][0]["reason"] == "not judged: no delivery was expected"
    assert doc["slo"][1]["reason"] == "not judged: no abrupt disconnect happened (--churn)"
    why = "no member was welcomed (6 connections, 0 welcomes); nothing was delivered"
    assert doc["broken"] == [why]
    assert f"broken run: {why}" in proc.stdout.splitlines()
    assert "slo MISS lost==0 (observed 0; not judged: no delivery was expected)" in proc.stdout


@pytest.mark.slow
def test_a_server_that_accepts_and_never_speaks_fails_its_gates_and_the_run(tmp_path):
    with running_fake({"silent"}) as url:
        proc, doc = run_load_proc(
            url, tmp_path, "--connect-timeout", "1", "--duration", "2", "--slo", "p99<50ms"
        )
    assert proc.returncode == 1
    assert doc["connections"]["opened"] == 6 and doc["fanout_latency_us"]["count"] == 0
    [gate] = doc["slo"]
    assert gate["ok"] is False and "no fan-out latency sample" in gate["reason"]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("broken run:")]
    assert lines == [
        "broken run: no member was welcomed (6 connections, 0 welcomes); nothing was delivered"
    ]


@pytest.mark.slow
def test_a_run_without_gates_is_broken_when_nothing_was_delivered(tmp_path):
    with running_fake({"silent"}) as url:
        proc, doc = run_load_proc(url, tmp_path, "--connect-timeout", "1", "--duration", "2")
    assert proc.returncode == 1 and doc["slo"] == []
    assert "broken run: no member was welcomed" in proc.stdout


@pytest.mark.slow
def test_replayed_history_is_not_fan_out_latency(tmp_path):
    """A server that replays the room's last messages to each joiner is merely different."""
    with running_fake({"history"}) as url:
        code, doc = run_load(
            url,
            tmp_path,
            *("--churn", "0.34", "--churn-interval", "1", "--slo", "p99<1s", "--slo", "lost==0"),
        )
    d = doc["deliveries"]
    assert d["replayed"] > 0 and sum(r["replayed"] for r in doc["timeseries"]) == d["replayed"]
    assert ledger(doc) == QUIET
    assert doc["cleanup"]["abrupt_disconnects"] > 0  # churners rejoined and got the history
    receipts = doc["fanout_latency_us"]["count"] + doc["rtt_latency_us"]["count"]
    assert receipts == sum(r["delivered"] for r in doc["timeseries"])  # no replay among them
    assert doc["fanout_latency_us"]["p99"] < 1_000_000 and doc["rtt_latency_us"]["p99"] < 1_000_000
    assert code == 0, doc["slo"]


@pytest.mark.slow
def test_server_closes_are_counted_and_users_reconnect(tmp_path):
    """The server closes every member with 1011 soon after it joined: the ledger forgives
    the windows after each close, so lost==0 holds, but nothing about the run is green."""
    with running_fake({"close-after"}) as url:
        proc, doc = run_load_proc(
            url, tmp_path, "--duration", "4", "--slo", "lost==0", "--slo", "server_closes==0"
        )
    c = doc["connections"]
    assert c["server_closes"].get("1011", 0) >= 6 and set(c["server_closes"]) == {"1011"}
    assert c["reconnects"] >= 6 and c["opened"] == 6 + c["reconnects"]
    assert c["lost"] == 0 and c["protocol_errors"] == {}
    assert c["users"] == c["users_ended_by_server"] == 6
    assert c["under_planned_s"] > 0 and doc["sends"]["unsent"] > 0
    assert sum(r["server_closes"] for r in doc["timeseries"]) == c["server_closes"]["1011"]
    assert ledger(doc) == QUIET and doc["deliveries"]["delivered"] > 0
    lost_gate, closes_gate = doc["slo"]
    assert lost_gate["ok"] is True and closes_gate["ok"] is False
    assert proc.returncode == 1
    assert any(
        line.startswith("warning: the server ended") and "1011 x" in line
        for line in proc.stdout.splitlines()
    )
    assert "broken run: the server ended the connection of every user (6 of 6" in proc.stdout


@pytest.mark.slow
def test_two_processes_merge_to_their_sum(tmp_path):
    with running_fake() as url:
        code, doc = run_load(
            url, tmp_path, "--users", "8", "--processes", "2", "--master-port", str(free_port())
        )
    assert code == 0
    assert doc["config"]["processes"] == doc["config"]["processes_reported"] == 2
    assert ledger(doc) == QUIET
    per = doc["per_process"]
    assert len(per) == 2 and all(p["delivered"] > 0 for p in per)
    for key in ("expected", "delivered", "lost"):
        assert doc["deliveries"][key] == sum(p[key] for p in per)
    assert doc["fanout_latency_us"]["count"] == sum(p["fanout_recorded"] for p in per)
    receipts = doc["fanout_latency_us"]["count"] + doc["rtt_latency_us"]["count"]
    assert sum(r["delivered"] for r in doc["timeseries"]) == receipts


def test_usage_errors_exit_2(tmp_path):
    proc = chatbench_load("ws://127.0.0.1:9", "--users", "0", "--out", str(tmp_path), timeout=30)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = chatbench_load("http://x", "--users", "3", "--out", str(tmp_path), timeout=30)
    assert proc.returncode == 2 and "ws://" in proc.stderr
    proc = chatbench_load("ws://127.0.0.1:9", "--users", "3", "--slo", "p99<5", timeout=30)
    assert proc.returncode == 2
    proc = chatbench_load(
        "ws://127.0.0.1:9", "--users", "3", "--out", str(tmp_path), "--payload-bytes", "9000"
    )
    assert proc.returncode == 2 and "--payload-bytes" in proc.stderr
    proc = chatbench_load(
        "ws://127.0.0.1:9", "--users", "3", "--out", str(tmp_path), "--max-message-bytes", "100"
    )
    assert proc.returncode == 2 and "--max-message-bytes must be at least 1024" in proc.stderr


def test_unreachable_server_exits_2(tmp_path):
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = chatbench_load(
        f"ws://127.0.0.1:{port}", "--users", "3", "--out", str(tmp_path), timeout=30
    )
    assert proc.returncode == 2
    assert "error" in proc.stderr and "Traceback" not in proc.stderr


def verdict_doc(**connections: Any) -> dict[str, Any]:
    """The parts of results.json that `verdict` reads."""
    base = {"server_closes": {}, "lost": 0, "protocol_errors": {}, "reconnects": 0}
    return {
        "slo": [{"expr": "lost==0", "value": 0.0, "ok": True, "reason": ""}],
        "connections": {**base, "under_planned_s": 0, "harness_errors": 0, **connections},
        "sends": {"scheduled": 100, "sent": 100, "unsent": 0},
        "broken": [],
    }


def test_verdict_passes_a_clean_run(capsys, tmp_path):
    assert verdict(verdict_doc(), tmp_path / "results.json") == 0
    assert "warning" not in capsys.readouterr().out


def test_verdict_warns_about_connections_the_server_ended(capsys, tmp_path):
    doc = verdict_doc(server_closes={"1011": 3, "1001": 1}, lost=2, reconnects=6)
    doc["sends"] = {"scheduled": 100, "sent": 90, "unsent": 10}
    assert verdict(doc, tmp_path / "results.json") == 0  # some closes alone do not fail a run
    assert (
        "warning: the server ended 6 connections; closes 1011 x3, 1001 x1; 2 lost without a "
        "close frame; 6 reconnects, 10 of 100 messages unsent, 0 s under the planned connections"
    ) in capsys.readouterr().out.splitlines()


def test_verdict_blames_chatbench_for_its_own_bugs_with_exit_3(capsys, tmp_path):
    doc = verdict_doc(harness_errors=2)
    doc["broken"] = ["no member was welcomed (2 connections, 0 welcomes); nothing was delivered"]
    assert verdict(doc, tmp_path / "results.json") == 3
    out = capsys.readouterr().out
    assert "harness error: chatbench ended 2 connections by a bug of its own" in out
    assert "broken run" not in out  # not the server's failure


def test_verdict_fails_a_broken_run_whatever_its_gates(capsys, tmp_path):
    doc = verdict_doc()
    doc["broken"] = ["a", "b"]
    assert verdict(doc, tmp_path / "results.json") == 1
    assert "broken run: a; b" in capsys.readouterr().out.splitlines()
