"""`chatbench serve --workers N`: N uvicorn worker processes on one socket, one Redis.

uvicorn's multi-process supervisor (`uvicorn.supervisors.Multiprocess`) binds nothing itself:
it hands our listening socket to N spawned workers, pings them, replaces a worker that dies and
stops them all on SIGINT/SIGTERM. Each worker builds its own server from the CHATBENCH_*
environment (settings travel to spawned children through it) with a RedisHub, so the workers
are nodes of one cluster like processes on other hosts are.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import multiprocess

from reference_server.settings import ENV_PREFIX, Settings


class _ChatWorker(multiprocess.Process):
    """A uvicorn worker that runs the reference ChatServer (1001 on shutdown), built in the
    child from the environment, instead of a plain uvicorn.Server."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover
        from reference_server.server import build_server

        self._server = build_server(Settings.from_env(workers=1))
        super().target(sockets)


def settings_environment(settings: Settings) -> dict[str, str]:
    """CHATBENCH_* variables that make Settings.from_env() return `settings`."""
    env = {}
    for field in dataclasses.fields(settings):
        value: Any = getattr(settings, field.name)
        if isinstance(value, tuple):
            value = ",".join(value)
        elif isinstance(value, bool):
            value = "1" if value else "0"
        env[ENV_PREFIX + field.name.upper()] = str(value)
    return env


def run_workers(settings: Settings, sock: socket.socket) -> None:
    """Serve `sock` with `settings.workers` processes until SIGINT/SIGTERM."""
    os.environ.update(settings_environment(settings))
    config = uvicorn.Config(
        "reference_server:create_app",  # not loaded here: each worker builds its own server
        workers=settings.workers,
        log_level=settings.log_level,
    )
    # Multiprocess creates its workers through the module's `Process` name.
    original = multiprocess.Process
    multiprocess.Process = _ChatWorker  # type: ignore[misc]
    try:
        multiprocess.Multiprocess(config, sockets=[sock]).run()
    finally:
        multiprocess.Process = original  # type: ignore[misc]
