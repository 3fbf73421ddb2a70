"""Serve an ASGI app with uvicorn on a background thread, 127.0.0.1 and an ephemeral port.

    with running_asgi(app) as url:   # "ws://127.0.0.1:PORT"
        ...

The socket is bound before uvicorn starts, so the port is known without asking uvicorn; the
server runs until the block ends, then gets `should_exit` and, if it lingers, `force_exit`.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

HOST = "127.0.0.1"


class _Server(uvicorn.Server):
    """uvicorn.Server that tells a waiting thread when start-up is over, well or not."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.startup_over = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.startup_over.set()


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(128)
    return sock


@contextmanager
def running_asgi(app: Any, *, timeout: float = 10.0, **config: Any) -> Iterator[str]:
    """Run `app` for the duration of the block and yield its base URL, `ws://127.0.0.1:PORT`.

    `config` overrides uvicorn.Config (e.g. ws_ping_interval). RuntimeError if it cannot start.
    """
    sock = _listening_socket()
    port = sock.getsockname()[1]
    options: dict[str, Any] = {"log_level": "warning", "lifespan": "off"}
    # A member that never reads would otherwise hold up shutdown forever.
    options["timeout_graceful_shutdown"] = 2
    options.update(config)
    server = _Server(uvicorn.Config(app, host=HOST, port=port, **options))
    errors: list[BaseException] = []
    thread = threading.Thread(
        target=_serve, args=(server, sock, errors), name=f"asgi-{port}", daemon=True
    )
    thread.start()
    try:
        if not server.startup_over.wait(timeout) or not server.started:
            raise RuntimeError(f"server on port {port} did not start within {timeout} s: {errors}")
        yield f"ws://{HOST}:{port}"
    finally:
        _stop(server, thread, timeout)


def _serve(server: _Server, sock: socket.socket, errors: list[BaseException]) -> None:
    try:
        server.run(sockets=[sock])
    except BaseException as exc:  # SystemExit when start-up fails
        errors.append(exc)
    finally:
        server.startup_over.set()
        sock.close()


def _stop(server: _Server, thread: threading.Thread, timeout: float) -> None:
    server.should_exit = True
    thread.join(timeout)
    if thread.is_alive():
        server.force_exit = True
        thread.join(timeout)
    if thread.is_alive():
        raise RuntimeError(f"{thread.name} did not stop within {2 * timeout} s")
