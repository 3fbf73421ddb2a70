"""Processes the benchmarks start: servers, redis-server, and waiting on their ports.

Every wait is bounded; every process is stopped by its own pid (terminate, then kill).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
BASELINES = ROOT / "bench" / "baselines"

SERVER_KINDS = ("reference", "seed", "broadcast")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float = 20.0) -> None:
    """Return once 127.0.0.1:port accepts connections; raise if `proc` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)  # poll interval while the port is not open yet
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f} s")


def wait_healthy(port: int, proc: subprocess.Popen[bytes] | None, timeout: float = 20.0) -> None:
    """Return once /healthz on 127.0.0.1:port says `ok` (a Redis-backed server that listens
    before its Redis link is up would serve its first members alone)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1.0) as r:
                body = json.loads(r.read())
            if body.get("status") == "ok":
                return
            last = json.dumps(body)
        except (OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.05)  # poll interval while the link comes up
    raise TimeoutError(f"127.0.0.1:{port}/healthz not ok after {timeout:.0f} s: {last}")


def server_command(kind: str, port: int, redis_url: str | None = None) -> list[str]:
    """The command line that starts server `kind` on `port`.

    Kinds: reference, seed, broadcast.
    """
    if kind == "reference":
        cmd = [PY, "-m", "harness.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        return [*cmd, "--redis-url", redis_url] if redis_url else cmd
    if kind in ("seed", "broadcast"):
        return [PY, str(BASELINES / f"{kind}_server.py"), "--port", str(port)]
    raise ValueError(f"unknown server kind {kind!r}")


class Proc:
    """A started child process listening on a port, with CPU accounting."""

    def __init__(
        self,
        cmd: Sequence[str],
        port: int,
        name: str,
        timeout: float = 30.0,
        healthz: bool = False,
    ) -> None:
        self.name = name
        self.port = port
        # Logs go to a file: tracebacks of clients dropped at the end are noise on a terminal.
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop())
            prefix=f"bench-{name}-", suffix=".log", delete=False
        )
        self.popen = subprocess.Popen(
            list(cmd), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log
        )
        self.ps = psutil.Process(self.popen.pid)
        try:
            wait_port(port, self.popen, timeout)
            if healthz:
                wait_healthy(port, self.popen, timeout)
        except BaseException as exc:
            self.stop()
            raise RuntimeError(f"{name} did not start: {exc}; log:\n{self.log_tail()}") from exc
        self._cpu0 = self.cpu_seconds()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far (0 once the process is gone)."""
        try:
            t = self.ps.cpu_times()
            return float(t.user + t.system)
        except psutil.Error:
            return 0.0

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the process's output."""
        text = Path(self.log.name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate, then kill after `timeout`; idempotent."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(kind: str, redis_url: str | None = None) -> Proc:
    """Start server `kind` on a free port and wait until it listens."""
    port = free_port()
    return Proc(server_command(kind, port, redis_url), port, kind, healthz=redis_url is not None)


def start_redis() -> Proc:
    """A throwaway redis-server on a free loopback port (no persistence)."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server not found on PATH (make redis installs it)")
    port = free_port()
    cmd = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return Proc(cmd, port, "redis")


def ws_url(port: int) -> str:
    """Base URL of a chat server on loopback (rooms are appended by the clients)."""
    return f"ws://127.0.0.1:{port}"


def cpu_count() -> int:
    """Usable CPU cores."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_delay_seconds(pids: Sequence[int]) -> float | None:
    """Seconds the threads of `pids` have spent so far runnable but waiting for a CPU.

    The second field of /proc/PID/task/TID/schedstat (nanoseconds on a run queue). A process
    that waits there while its messages queue up is short of CPU, not slow: on 2 cores the
    server and the drivers take turns once they need more than the box has. None where the
    kernel does not keep schedstats (not Linux, or CONFIG_SCHED_INFO off).
    """
    total, seen = 0, False
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[1])
                seen = True
            except (OSError, IndexError, ValueError):
                continue  # the thread ended meanwhile
    return total / 1e9 if seen else None
