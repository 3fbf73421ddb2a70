"""A real `redis-server` on a free loopback port, for the tests that need Redis.

    with RedisServer() as redis:          # redis.url == "redis://127.0.0.1:PORT/0"
        redis.stop()                      # an outage: the port refuses connections
        redis.start()                     # back on the same port, empty (no persistence)

No persistence (`--save "" --appendonly no`), so a restart loses every key, as a Redis restarted
without RDB/AOF does. `available()` says whether redis-server is installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from types import TracebackType

EXECUTABLE = "redis-server"
INSTALL_HINT = "redis-server not found on PATH: `make redis` installs it (or apt-get/brew install)"
TIMEOUT_FACTOR = float(os.environ.get("CHATBENCH_TIMEOUT_FACTOR", "1"))


def available() -> bool:
    """True when redis-server is on PATH."""
    return shutil.which(EXECUTABLE) is not None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int, timeout: float) -> bool:
    """One PING over a raw socket; True on +PONG (or NOAUTH: up, with a password)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class RedisServer:
    """One redis-server process on 127.0.0.1; stop and start it again on the same port."""

    def __init__(
        self, port: int | None = None, start_timeout: float = 10.0, password: str = ""
    ) -> None:
        self.port = port or free_port()
        self.password = password
        """`requirepass`: clients must authenticate (the URL carries it)."""
        self.start_timeout = start_timeout * TIMEOUT_FACTOR
        self._dir = tempfile.mkdtemp(prefix="chatbench-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The redis:// URL of this server (with its password, if it has one)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start redis-server and wait until it answers PING (RuntimeError on timeout)."""
        if self.running:
            return
        args = [EXECUTABLE, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", self._dir, "--protected-mode", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + self.start_timeout
        while not _ping(self.port, 0.5):
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise RuntimeError(f"redis-server exited with {self._proc.returncode}: {err}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING on port {self.port}")
            time.sleep(0.02)  # polling a port, not synchronising with the code under test

    def stop(self) -> None:
        """Kill redis-server (SIGKILL: an outage, not a graceful shutdown) and reap it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a frozen one too
            proc.kill()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()

    def freeze(self) -> None:
        """SIGSTOP: Redis keeps its sockets and data but answers nothing (a stalled host)."""
        assert self._proc is not None and self.running
        self._proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: Redis answers again (its keys' TTLs ran on meanwhile)."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Stop, then start again on the same port."""
        self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
