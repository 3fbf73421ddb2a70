"""Chat servers as their own processes (so `--server-pid` sees only them), on free ports."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

FACTOR = float(os.environ.get("CHATBENCH_TIMEOUT_FACTOR", "1"))


def free_port() -> int:
    """A loopback port nobody listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server_process(argv: list[str], expect: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start `argv`, wait (bounded) for its first stdout line containing `expect`; yield the
    process and that line; kill it afterwards."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = _first_line(proc, 30 * FACTOR)
        assert expect in line, f"{argv}: {line!r}"
        yield proc, line.strip()
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError("the server printed nothing in time")
    return proc.stdout.readline()


@contextlib.contextmanager
def leaky_server(*flags: str) -> Iterator[tuple[int, str]]:
    """tests/fakes/leaky_server.py: (pid, ws:// URL)."""
    argv = [sys.executable, "-m", "tests.fakes.leaky_server", *flags]
    with server_process(argv, "ws://127.0.0.1:") as (proc, url):
        yield proc.pid, url


@contextlib.contextmanager
def reference_server() -> Iterator[tuple[int, str]]:
    """`chatbench serve` (in memory): (pid, ws:// URL)."""
    port = free_port()
    argv = [sys.executable, "-m", "harness.cli", "serve", "--port", str(port)]
    with server_process(argv, f":{port}/") as (proc, _):
        yield proc.pid, f"ws://127.0.0.1:{port}"
