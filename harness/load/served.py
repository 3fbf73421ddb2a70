"""`chatbench load --serve`: the in-memory reference server as a child process, and its restart.

The server runs as `chatbench serve` on 127.0.0.1 (a free port), a process of its own as it
would be in a deployment, so its CPU is not the generator's. `restart()` is the deploy of
`--restart-at`: SIGTERM (the server closes every member with 1001 and exits), then the same
command again on the same port. Every wait is bounded; a server that does not come up is a
`ServeError`.
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from types import TracebackType
from typing import Any

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
_LISTENING = re.compile(r"listening on ws://[^:]+:(\d+)/")


class ServeError(Exception):
    """The served reference server did not start (or stop) in time."""


class ServedServer:
    """One reference server child process; `start()`, `restart()`, `stop()`."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.restarts: list[dict[str, Any]] = []
        """What each restart took: {"stop_s", "start_s"} or {"error"}."""
        self._lines: queue.Queue[str] = queue.Queue()
        self._lock = threading.RLock()

    @property
    def url(self) -> str:
        """ws://127.0.0.1:PORT (the reference server's rooms are at /ws/chat/ROOM)."""
        return f"ws://{HOST}:{self.port}"

    @property
    def metrics_url(self) -> str:
        """The server's Prometheus endpoint (it keeps its port across restarts)."""
        return f"http://{HOST}:{self.port}/metrics"

    def start(self, port: int = 0) -> str:
        """Start the server on `port` (0: a free one); its URL once it listens."""
        argv = [sys.executable, "-m", "harness.cli", "serve", "--host", HOST, "--port", str(port)]
        argv += ["--log-level", "warning", "--no-chat-page"]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, bufsize=1
        )
        self._lines = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        self.port = self._listening_port(time.monotonic() + START_TIMEOUT_S)
        return self.url

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:  # drained to the end: the pipe never fills
                self._lines.put(line)

    def _listening_port(self, deadline: float) -> int:
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc is not None and self.proc.poll() is not None:
                    code = self.proc.returncode
                    raise ServeError(f"the reference server exited ({code})") from None
                continue
            m = _LISTENING.search(line)
            if m:
                return int(m.group(1))
        self.stop()
        raise ServeError(f"the reference server did not listen within {START_TIMEOUT_S:.0f} s")

    def restart(self) -> None:
        """SIGTERM, wait for the exit, start again on the same port (once at a time)."""
        with self._lock:
            began = time.monotonic()
            try:
                self._terminate()
                stopped = time.monotonic()
                self.start(self.port)
            except (ServeError, OSError) as exc:
                self.restarts.append({"error": str(exc)})
                return
            done = time.monotonic()
            self.restarts.append(
                {"stop_s": round(stopped - began, 3), "start_s": round(done - stopped, 3)}
            )

    def restart_on(self, signum: int = signal.SIGUSR1) -> None:
        """Restart (in a thread of its own) whenever signal `signum` arrives."""

        def handler(_signum: int, _frame: object) -> None:
            threading.Thread(target=self.restart, name="restart", daemon=True).start()

        signal.signal(signum, handler)

    def _terminate(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        with self._lock:
            self._terminate()

    def __enter__(self) -> ServedServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # a late request: nothing to do
        self.stop()
