"""Fixtures: reference servers with custom settings, stopped after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reference_server.embedded import EmbeddedServer
from reference_server.settings import Settings


@pytest.fixture
def start_server() -> Iterator[Callable[..., EmbeddedServer]]:
    """Start a reference server with Settings(**changes) (and an optional hub)."""
    servers: list[EmbeddedServer] = []

    def start(hub: Any = None, **changes: Any) -> EmbeddedServer:
        server = EmbeddedServer(Settings(**changes), hub)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
