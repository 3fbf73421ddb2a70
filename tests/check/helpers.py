"""Running `chatbench check` in-process or as a subprocess, and the misbehaving TCP servers."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from harness.cli import main
from harness.results import CheckResults

FACTOR = float(os.environ.get("CHATBENCH_TIMEOUT_FACTOR", "1"))
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def check_json(urls: list[str], tmp: Path, *args: str) -> tuple[int, CheckResults]:
    """Run `chatbench check` in this process; its exit code and its --json document."""
    out = tmp / f"check-{time.monotonic_ns()}.json"
    rc = main(["check", *urls, "--json", str(out), "--timeout-factor", str(FACTOR), *args])
    return rc, CheckResults.model_validate(json.loads(out.read_text()))


def failed(results: CheckResults) -> set[str]:
    """Clause ids whose verdict is fail."""
    return {c.id for c in results.cases if c.verdict == "fail"}


def verdicts(results: CheckResults) -> dict[str, str]:
    """Clause id -> verdict."""
    return {c.id: c.verdict for c in results.cases}


def cli(*args: str, timeout: float = 120) -> tuple[int, str, str, float]:
    """Run the real console entry point in a subprocess: exit code, stdout, stderr, seconds."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0


@contextlib.contextmanager
def tcp_server(behaviour: str) -> Iterator[str]:
    """A raw TCP server on 127.0.0.1 that accepts, then never answers (`silent`), closes
    (`close`), sends garbage (`garbage`) or answers HTTP 404 (`http404`)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(conn)
            if behaviour == "close":
                conn.close()
            if behaviour == "garbage":
                with contextlib.suppress(OSError):
                    conn.sendall(b"\x00\x01garbage, not HTTP\r\n\r\n")
                    conn.close()
            if behaviour == "http404":  # a web server with nothing at that path
                with contextlib.suppress(OSError):
                    conn.settimeout(5)
                    conn.recv(65536)
                    conn.sendall(NOT_FOUND)
                    conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


def closed_port() -> str:
    """A ws:// URL on a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ws://127.0.0.1:{port}"
