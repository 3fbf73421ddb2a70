"""`chatbench load` connect latency, the reconnect storm, --serve and --source-addresses, end to
end: real servers on loopback, Locust in a child process, a few seconds each."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.fakes.chat_server import running_fake
from tests.load.storm_servers import Peers, Refusing, SlowWelcome
from tests.load.test_load_command import FACTOR, QUIET, chatbench_load, ledger, run_load_proc

LOAD = (sys.executable, "-m", "harness.cli", "load")
STORM = ("--users", "12", "--rooms", "3", "--rate", "4", "--duration", "6", "--storm-at", "2")


def _storm_run(tmp_path, *extra: str, url: str | None = None):
    args = [*STORM, *extra, "--slo", "reconnect_p100_s<10", "--slo", "storm_lost==0"]
    if url is None:
        return run_load_proc("--serve", tmp_path, *args)
    return run_load_proc(url, tmp_path, *args)


def _survived(doc, users: int = 12) -> dict:
    """Every dropped user back (a churner between its connections at the storm is not
    dropped), nothing lost, every announcement heard."""
    storm = doc["storm"]
    assert storm["dropped"] == storm["back"] >= users, storm
    assert 0 < storm["back_99_s"] <= storm["back_100_s"] < 10
    assert storm["lost"] == 0 and ledger(doc) == QUIET
    assert storm["left_seen"] == storm["left_owed"]
    assert storm["joined_seen"] == storm["joined_owed"] > 0  # early returners hear the later
    assert doc["broken"] == [] and all(g["ok"] for g in doc["slo"])
    return storm


@pytest.mark.slow
def test_a_storm_against_the_reference_server_comes_back_whole(tmp_path):
    flags = ("--churn", "0.25", "--churn-interval", "1", "--slow", "0.17")
    proc, doc = _storm_run(tmp_path, *flags)
    storm = _survived(doc, users=9)  # 3 churners may be between connections; 2 slow ones not
    assert proc.returncode == 0, proc.stdout
    assert 1.5 < storm["at_s"] < 4 and storm["cause"] == "drop"
    assert doc["config"]["storm"]["at_s"] == 2 and doc["config"]["served"] is True
    # the storm's drops are chatbench's, abrupt: no close by the server, no reconnect counted
    assert doc["connections"]["server_closes"] == {} and doc["cleanup"]["abrupt_disconnects"] >= 12
    rows = doc["timeseries"]
    assert sum(r["connects"] for r in rows) == doc["connect_latency_us"]["count"] >= 24
    assert "storm (drop) at" in proc.stderr and "connect p50" in proc.stderr
    # --serve records the served server's own side through its /metrics
    server = doc["server"]
    assert server["source"].endswith("/metrics") and server["errors"] == []
    assert all(s["rss_bytes"] and s["connections"] is not None for s in server["timeseries"])


@pytest.mark.slow
def test_a_restart_of_the_served_server_is_a_storm_not_a_broken_run(tmp_path):
    # the server is down a second or more; a short backoff cap brings everyone back in time
    args = [*STORM[:-2], "--restart-at", "2", "--duration", "8", "--backoff-cap", "2"]
    proc, doc = run_load_proc("--serve", tmp_path, *args, "--slow", "0.25")
    storm = doc["storm"]
    # 3 slow consumers never read: they cannot see the restart's close, and are not its
    assert storm["cause"] == "restart" and storm["dropped"] == storm["back"] == 9, storm
    assert storm["back_100_s"] is not None and storm["lost"] == 0 and ledger(doc) == QUIET
    assert doc["connections"]["server_closes"] == {"1001": 9}  # the restart's going-away closes
    assert [set(r) for r in doc["config"]["restarts"]] == [{"stop_s", "start_s"}]
    # its /metrics was read before the restart and again from the new process after it
    samples = [s for s in doc["server"]["timeseries"] if s["rss_bytes"]]
    assert min(s["t"] for s in samples) < storm["at_s"] < max(s["t"] for s in samples)
    # ... and a restarted server's memory says nothing of a leak: no verdict, never "none"
    leak = doc["server"]["leak"]
    assert leak["verdict"] == "unknown" and "restarted" in leak["reason"], leak
    assert doc["broken"] == [] and proc.returncode == 0, (doc["broken"], proc.stdout)


@pytest.mark.slow
@pytest.mark.parametrize(("close", "key"), [(False, "503"), (True, "1013")])
def test_a_server_that_refuses_reconnects_is_counted_and_not_green(close, key, tmp_path):
    # 13 handshakes accepted: chatbench's preflight and the 12 users' first
    with running_fake(server=Refusing(accept=13, refuse_s=None, close=close)) as url:
        proc, doc = _storm_run(tmp_path, url=url)
    storm = doc["storm"]
    assert storm["dropped"] == 12 and storm["back"] == 0
    assert storm["back_99_s"] is None and storm["back_100_s"] is None
    assert set(storm["failed_handshakes"]) == {key} and storm["failed_handshakes"][key] >= 12
    gate = doc["slo"][0]
    assert gate["ok"] is False and "not all the dropped users came back (0 of 12)" in gate["reason"]
    assert any("only 0 of 12 dropped users came back" in b for b in doc["broken"])
    assert proc.returncode == 1


@pytest.mark.slow
def test_a_server_that_refuses_for_a_while_shows_the_refusals_and_the_return(tmp_path):
    with running_fake(server=Refusing(accept=13, refuse_s=1.5)) as url:
        proc, doc = _storm_run(tmp_path, "--backoff-cap", "1", url=url)
    storm = doc["storm"]
    assert storm["failed_handshakes"].get("503", 0) >= 1
    assert storm["dropped"] == storm["back"] == 12 and storm["back_100_s"] > 1.0
    assert proc.returncode == 0, (doc["broken"], doc["slo"])


@pytest.mark.slow
@pytest.mark.parametrize(("delay_s", "low_ms", "high_ms"), [(0.2, 200, 1000), (0, 0, 100)])
def test_connect_latency_includes_the_welcome(delay_s, low_ms, high_ms, tmp_path):
    with running_fake(server=SlowWelcome(delay_s)) as url:
        _, doc = run_load_proc(url, tmp_path, "--slo", "connect_p50>=200ms")
    c = doc["connect_latency_us"]
    assert c["count"] == 6 and low_ms * 1000 <= c["p50"] < high_ms * 1000, c
    assert doc["connect_hdr"] and sum(r["connects"] for r in doc["timeseries"]) == 6
    assert doc["slo"][0]["ok"] is (delay_s > 0)


@pytest.mark.slow
def test_connections_come_from_the_source_addresses(tmp_path):
    peers = Peers()
    with running_fake(server=peers) as url:
        proc, doc = run_load_proc(
            url, tmp_path, "--source-addresses", "127.0.0.2-127.0.0.4,127.0.0.9"
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    preflight, *users = peers.peers  # chatbench's own check that the server answers comes first
    assert set(users) == {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.9"}, peers.peers
    assert len(users) == 6 and preflight == "127.0.0.1"
    assert doc["config"]["source_addresses"] == 4 and ledger(doc) == QUIET


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--source-addresses", "127.0.0.9-127.0.0.2"), "not a range"),
        (("--source-addresses", "127.0.0.1-x"), "not an IP address"),
        (("--source-addresses", "192.0.2.7"), "not an address of this machine"),
        (("--restart-at", "2"), "--serve"),
        (("--storm-at", "20"), "send phase"),
        (("--storm-at", "2", "--backoff-base", "2", "--backoff-cap", "1"), "--backoff-cap"),
    ],
)
def test_storm_and_source_usage_errors_exit_2(args, words, tmp_path):
    proc = chatbench_load(
        "ws://127.0.0.1:9", "--users", "3", "--out", str(tmp_path), *args, timeout=30
    )
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_serve_takes_no_url(tmp_path):
    proc = chatbench_load("ws://127.0.0.1:9", "--serve", "--users", "3", "--out", str(tmp_path))
    assert proc.returncode == 2 and "--serve" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "gate"), [("no-join-announce", "storm_joined_missing==0"), ("loss", "storm_lost==0")]
)
def test_a_storm_shows_what_the_server_loses_across_it(fault, gate, tmp_path):
    with running_fake({fault}) as url:
        proc, doc = run_load_proc(url, tmp_path, *STORM, "--slo", gate)
    storm = doc["storm"]
    assert storm["dropped"] == storm["back"] == 12 and storm["back_100_s"] is not None
    if fault == "loss":
        assert 0 < storm["lost"] <= doc["deliveries"]["lost"]
        assert storm["joined_seen"] == storm["joined_owed"] > 0
    else:
        assert storm["joined_seen"] == 0 < storm["joined_owed"] and storm["lost"] == 0
    assert doc["slo"][0]["ok"] is False and proc.returncode == 1


@pytest.mark.slow
def test_two_processes_merge_their_storms_and_connect_latencies(tmp_path):
    proc, doc = _storm_run(tmp_path, "--processes", "2")
    _survived(doc)
    assert proc.returncode == 0, proc.stdout
    per = doc["per_process"]
    assert len(per) == 2 and sum(p["opened"] for p in per) == doc["connections"]["opened"]
    assert doc["connect_latency_us"]["count"] == doc["connections"]["welcomed"] >= 24


@pytest.mark.slow
def test_the_flag_wins_over_the_variable_all_the_way_to_the_users(tmp_path, monkeypatch):
    monkeypatch.setenv("CHATBENCH_SOURCE_ADDRESSES", "127.0.0.8")
    peers = Peers()
    with running_fake(server=peers) as url:
        proc, _ = run_load_proc(url, tmp_path, "--source-addresses", "127.0.0.3")
    assert proc.returncode == 0 and set(peers.peers[1:]) == {"127.0.0.3"}, peers.peers


@pytest.mark.slow
def test_a_worker_connects_from_its_own_source_addresses(tmp_path):
    """The master's --source-addresses go to its workers, unless a worker has its own."""
    peers = Peers()
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # a free port for the master (closed before it binds)
    with running_fake(server=peers) as url:
        master = subprocess.Popen(
            [
                *LOAD,
                url,
                "--master",
                "--expect-workers",
                "1",
                "--master-port",
                str(port),
                "--users",
                "6",
                "--rooms",
                "2",
                "--rate",
                "5",
                "--duration",
                "3",
                "--out",
                str(tmp_path),
                "--source-addresses",
                "127.0.0.2",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        worker = subprocess.Popen(
            [*LOAD, "--worker", "--master-port", str(port), "--source-addresses", "127.0.0.5"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _, err = master.communicate(timeout=90 * FACTOR)
        finally:
            for child in (master, worker):
                if child.poll() is None:
                    child.kill()
                child.wait(10)
    assert master.returncode == 0, err[-2000:]
    _, *users = peers.peers  # after the master's preflight
    assert set(users) == {"127.0.0.5"} and len(users) == 6, peers.peers
