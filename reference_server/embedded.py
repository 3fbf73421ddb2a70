"""Run the reference server in a background thread on 127.0.0.1 and an ephemeral port.

    with running_server() as url:          # "ws://127.0.0.1:PORT"
        ...connect to f"{url}/ws/chat/lobby?username=ada"...

Used by tests (the `reference_url` fixture), `chatbench demo` and benchmarks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from reference_server.hub import Hub
from reference_server.server import ChatServer, build_server, listen_socket
from reference_server.settings import Settings

HOST = "127.0.0.1"


class EmbeddedServer:
    """One reference server on its own thread and event loop; `start()` then `stop()`."""

    def __init__(
        self, settings: Settings | None = None, hub: Hub | None = None, **uvicorn: Any
    ) -> None:
        self.settings = (settings or Settings()).replace(host=HOST, port=0)
        self.hub = hub
        self.uvicorn = uvicorn
        """uvicorn.Config overrides, e.g. ws="wsproto" to run on another WebSocket stack."""
        self.port = 0
        self._server: ChatServer | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """Base WebSocket URL, e.g. ws://127.0.0.1:PORT (append /ws/chat/ROOM)."""
        return f"ws://{HOST}:{self.port}"

    @property
    def server(self) -> ChatServer:
        """The running uvicorn server (its connections: `server.server_state.connections`)."""
        if self._server is None:
            raise RuntimeError("not started")
        return self._server

    @property
    def http_url(self) -> str:
        """Base HTTP URL for /healthz and /stats."""
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 10.0) -> str:
        """Start serving and return `url` once the server listens; RuntimeError if it cannot."""
        sock = listen_socket(HOST, 0)
        self.port = sock.getsockname()[1]
        self._server = server = build_server(
            self.settings, self.hub, log_config=None, **self.uvicorn
        )
        self._thread = threading.Thread(
            target=self._run, args=(server, sock), name=f"reference-server-{self.port}", daemon=True
        )
        self._thread.start()
        if not server.started_event.wait(timeout):
            self.stop()
            raise RuntimeError(f"reference server did not start within {timeout} s: {self._error}")
        return self.url

    def _run(self, server: ChatServer, sock: object) -> None:
        try:
            server.run(sockets=[sock])  # type: ignore[list-item]
        except BaseException as exc:  # SystemExit on start-up failure included
            self._error = exc
        finally:
            sock.close()  # type: ignore[attr-defined]

    def stop(self, timeout: float = 15.0) -> None:
        """Shut down gracefully (clients get 1001) and wait for the thread; idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"reference server on port {self.port} did not stop")


@contextmanager
def running_server(
    settings: Settings | None = None,
    hub: Hub | None = None,
    *,
    timeout: float = 10.0,
    **uvicorn: Any,
) -> Iterator[str]:
    """Run a reference server for the duration of the block; yields its base ws:// URL.

    `uvicorn` overrides uvicorn.Config (ws="websockets" runs it on another WebSocket stack).
    """
    server = EmbeddedServer(settings, hub, **uvicorn)
    url = server.start(timeout)
    try:
        yield url
    finally:
        server.stop()
