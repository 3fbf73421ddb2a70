"""`chatbench serve` processes sharing one Redis, as real subprocesses on free loopback ports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import urllib.error
import urllib.request
from typing import Any

from tests.redis.helpers import FACTOR
from tests.redis_server import free_port

CLI = [sys.executable, "-m", "harness.cli"]
START_TIMEOUT = 30.0 * FACTOR


class ServeProcess:
    """One `chatbench serve --redis-url URL` process; `await start()`, then `kill()`/`stop()`."""

    def __init__(self, redis_url: str, *extra: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.args = [*CLI, "serve", "--port", str(self.port), "--redis-url", redis_url, *extra]
        self.env = {**os.environ, **(env or {})}
        self.proc: asyncio.subprocess.Process | None = None
        self._final_log = ""
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())

    @property
    def url(self) -> str:
        """ws:// base URL."""
        return f"ws://127.0.0.1:{self.port}"

    async def start(self, healthy_within: float = START_TIMEOUT) -> ServeProcess:
        """Start and wait until /healthz says the Redis link is up."""
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=self._log
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), START_TIMEOUT)
        assert f":{self.port}/" in line.decode(), f"{line!r}; log: {self.log()}"
        await self.wait_health("ok", healthy_within)
        return self

    async def health(self) -> dict[str, Any]:
        """GET /healthz as JSON (error statuses included)."""

        def fetch() -> Any:
            url = f"http://127.0.0.1:{self.port}/healthz"
            try:
                with urllib.request.urlopen(url, timeout=5 * FACTOR) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                return json.loads(exc.read())

        result: dict[str, Any] = await asyncio.to_thread(fetch)
        return result

    async def wait_health(self, status: str, timeout: float) -> dict[str, Any]:
        """Poll /healthz until its `status` is `status` (AssertionError after `timeout`)."""
        last: dict[str, Any] = {}
        try:
            async with asyncio.timeout(timeout):
                while True:
                    try:
                        last = await self.health()
                    except OSError:
                        last = {}
                    if last.get("status") == status:
                        return last
                    await asyncio.sleep(0.05)  # polling an HTTP endpoint, bounded
        except TimeoutError:
            raise AssertionError(f"/healthz never said {status}: {last}; {self.log()}") from None

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as an OOM kill or a host loss."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()

    async def stop(self) -> int | None:
        """SIGINT (graceful), SIGKILL if it takes too long; the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 20 * FACTOR)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        self._final_log = self.log(whole=True)
        self._log.close()
        return proc.returncode

    def log(self, whole: bool = False) -> str:
        """What the process wrote to stderr so far (the last 2000 characters unless `whole`)."""
        try:
            self._log.seek(0)
            text = self._log.read().decode(errors="replace")
        except ValueError:
            text = self._final_log
        return text if whole else text[-2000:]
