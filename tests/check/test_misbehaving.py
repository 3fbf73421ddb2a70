"""Never hangs, never lies: misbehaving and unreachable servers, wrong arguments."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.cli import main
from tests.check.helpers import check_json, cli, closed_port, tcp_server
from tests.fakes.chat_server import running_fake

SUITE_LIMIT = 60


def _misbehaving(fault, tmp_path):
    t0 = time.monotonic()
    with running_fake({fault}) as url:
        rc, results = check_json([url], tmp_path)
    return fault, rc, results, time.monotonic() - t0


@pytest.mark.parametrize("faults", [("silent", "close-at-once", "garbage")])
def test_misbehaving_servers_fail_fast_with_reasons(tmp_path, faults):
    """Accepts and never answers, closes at once, sends garbage: exit 1 within the limit."""
    with ThreadPoolExecutor(3) as pool:
        runs = list(pool.map(lambda f: _misbehaving(f, tmp_path), faults))
    # the clause each server breaks; every other MUST case is blocked by it, none passes
    broken = {
        "silent": ({"join.welcome"}, "join.welcome"),
        "close-at-once": ({"connect.endpoint", "join.welcome"}, "join.welcome"),
        "garbage": ({"schema.events"}, "schema.events"),
    }
    for fault, rc, results, took in runs:
        assert rc == 1, fault
        assert took < SUITE_LIMIT, (fault, took)
        fails, blocker = broken[fault]
        must = [c for c in results.cases if c.level == "MUST" and c.verdict != "pass"]
        assert {c.id for c in must if c.verdict == "fail"} == fails, fault
        others = [c for c in must if c.id not in fails]
        assert all(c.verdict == "blocked" and c.blocked_by == blocker for c in others), fault
        assert all(c.reason for c in must), fault
        # a silent server does accept the handshake (connect.endpoint); nothing else holds
        passed = {c.id for c in results.cases if c.level == "MUST" and c.verdict == "pass"}
        assert passed == ({"connect.endpoint"} if fault == "silent" else set()), fault
        assert results.summary.errors == 0, fault  # the server's fault, never a harness error


def test_garbage_is_cited_as_a_schema_violation(tmp_path):
    with running_fake({"garbage"}) as url:
        rc, results = check_json([url], tmp_path, "--only", "join.welcome")
    (case,) = results.cases
    assert rc == 1 and (case.verdict, case.blocked_by) == ("blocked", "schema.events")
    assert case.reason.startswith("blocked by schema.events:")
    assert any(e.dir == "recv" and "garbage" in e.data for e in case.transcript)


def test_unreachable_servers_exit_2_with_one_line():
    """Refused, TCP accept but no handshake, HTTP garbage, 403, 404: exit 2, no traceback."""
    with (
        tcp_server("silent") as silent,
        tcp_server("close") as closing,
        tcp_server("garbage") as garbage,
        tcp_server("http404") as not_found,
        running_fake() as fake,
    ):
        targets = {
            "refused": [closed_port()],
            "silent": [silent, "--timeout-factor", "0.4"],
            "close": [closing],
            "garbage": [garbage],
            "403": [fake, "--path-template", "/elsewhere/{room}"],  # the fake refuses any path
            "404": [not_found],
        }
        with ThreadPoolExecutor(len(targets)) as pool:
            runs = dict(
                zip(targets, pool.map(lambda a: cli("check", *a), targets.values()), strict=True)
            )
    for name, (rc, out, err, took) in runs.items():
        assert rc == 2, (name, out, err)
        assert err.count("\n") == 1 and "cannot reach" in err, (name, err)
        assert "Traceback" not in err + out
        assert took < 30, (name, took)
    assert "connection refused" in runs["refused"][2]
    assert "HTTP 403" in runs["403"][2]
    assert "HTTP 404" in runs["404"][2] and "(check --path-template" in runs["404"][2]


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["http://127.0.0.1:1"],
        ["ws://127.0.0.1:1", "--header", "no colon"],
        ["ws://127.0.0.1:1", "--path-template", "/ws/chat"],
        ["ws://127.0.0.1:1", "--only", "nothing.matches"],
        ["ws://127.0.0.1:1", "--timeout-factor", "0"],
        ["ws://127.0.0.1:1", "--deadline", "soon"],
        ["ws://127.0.0.1:1", "--json", "/no/such/dir/check.json"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, args):
    assert main(["check", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err


def test_bad_arguments_print_no_traceback_from_the_console_script():
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "check", "ftp://x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("chatbench check: error: not a ws://")
    assert "Traceback" not in proc.stderr


def test_global_deadline_bounds_the_run(tmp_path):
    """Cases that cannot finish before --deadline are reported, the run ends in time."""
    with running_fake({"no-ping"}) as url:
        t0 = time.monotonic()
        rc, results = check_json([url], tmp_path, "--only", "leave.half-open", "--deadline", "3")
    assert time.monotonic() - t0 < 15
    (case,) = results.cases
    assert case.verdict == "fail" and "case budget" in case.reason
    assert rc == 0  # a SHOULD clause: counted only with --strict


def test_a_redirecting_server_is_refused_in_one_line_not_half_followed():
    """Every client connects the same way: a redirect is exit 2 naming where it points."""
    import asyncio
    import threading
    from http import HTTPStatus

    from websockets.asyncio.server import serve

    started, stop = threading.Event(), threading.Event()
    port: list[int] = []

    def redirect(conn, request):
        response = conn.respond(HTTPStatus.MOVED_PERMANENTLY, "moved\n")
        response.headers["Location"] = "/elsewhere" + request.path
        return response

    async def main():
        async with serve(
            lambda ws: ws.wait_closed(), "127.0.0.1", 0, process_request=redirect
        ) as s:
            port.append(s.sockets[0].getsockname()[1])
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        rc, _, err, _ = cli("check", f"ws://127.0.0.1:{port[0]}")
    finally:
        stop.set()
        thread.join(10)
    assert rc == 2 and err.count("\n") == 1, err
    assert "HTTP 301 redirect to /elsewhere/ws/chat/" in err and "follows no redirect" in err


def test_a_flooding_server_fails_the_case_and_the_harness_stays_bounded(tmp_path):
    from harness.check.client import MAX_EVENTS

    with running_fake({"flood"}) as url:
        # a flood starves a busy machine: patient waits, so the first verdict is the flood
        rc, results = check_json(
            [url], tmp_path, "--only", "join.announce", "--timeout-factor", "3"
        )
    (case,) = results.cases
    assert case.verdict == "fail" and f"more than {MAX_EVENTS} events" in case.reason
    assert rc == 1 and case.duration_s < 60


def test_a_url_with_a_path_says_what_was_tried_and_how_to_fix_it():
    with running_fake() as url:
        rc, _, err, _ = cli("check", f"{url}/ws/chat/lobby")
    assert rc == 2 and err.count("\n") == 1
    assert f"cannot reach {url}/ws/chat/lobby/ws/chat/" in err  # what was tried
    assert "the URL's own path /ws/chat/lobby comes before" in err and "--path-template" in err
