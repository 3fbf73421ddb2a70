"""`chatbench serve` as a subprocess: serves, stops with 1001 on a signal, refuses --workers."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys

import pytest

from tests.reference_server.clients import WAIT, closed_code, get_json, join

CLI = [sys.executable, "-m", "harness.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.anyio
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_serve_answers_and_a_stop_signal_closes_clients_with_1001(signum: int) -> None:
    port = _free_port()
    env = {**os.environ, "CHATBENCH_QUEUE_SIZE": "64"}
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "serve",
        "--port",
        str(port),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 6 * WAIT)
        assert f"ws://127.0.0.1:{port}/" in line.decode()
        url = f"ws://127.0.0.1:{port}"
        assert (await get_json(url, "/healthz"))["status"] == "ok"
        ws = await join(url, "cli", "ada")
        proc.send_signal(signum)
        assert await closed_code(ws) == 1001
        assert await asyncio.wait_for(proc.wait(), 3 * WAIT) == 0
        assert b"chatbench serve: stopped" in await proc.stderr.read()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_serve_refuses_several_workers_without_redis() -> None:
    done = subprocess.run(
        [*CLI, "serve", "--workers", "2"], capture_output=True, text=True, timeout=30 * WAIT
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--redis-url" in lines[0] and "Traceback" not in done.stderr


def test_serve_rejects_bad_environment_in_one_line() -> None:
    env = {**os.environ, "CHATBENCH_PING_INTERVAL": "soon"}
    done = subprocess.run(
        [*CLI, "serve"], capture_output=True, text=True, env=env, timeout=30 * WAIT
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "chatbench serve: error: CHATBENCH_PING_INTERVAL='soon' is not a number"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--rate-limit", "-1"], "rate_limit must be 0 (no limit) or a positive number"),
        (["--rate-burst", "0"], "rate_burst must be positive"),
        ([], "max_request_line must be at most 8175"),
    ],
)
def test_serve_rejects_bad_limits_in_one_line(args: list[str], expected: str) -> None:
    env = {**os.environ, "CHATBENCH_MAX_REQUEST_LINE": "9000"} if not args else None
    done = subprocess.run(
        [*CLI, "serve", *args], capture_output=True, text=True, env=env, timeout=30 * WAIT
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr
