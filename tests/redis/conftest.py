"""Fixtures of the Redis tests: a real redis-server per test module, flushed between tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis_server import INSTALL_HINT, RedisServer, available


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server of this module's own on a free port (skipped only if not installed)."""
    if not available():
        pytest.skip(INSTALL_HINT)
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of a running, empty redis-server."""
    redis_server.start()  # a test may have left it stopped
    _flush(redis_server.port)
    return redis_server.url


def _flush(port: int) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"FLUSHALL\r\n")
        assert sock.recv(16).startswith(b"+OK")
