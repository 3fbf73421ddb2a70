"""Fixtures of the Redis tests: a real redis-server per test module, flushed between tests.

Without redis-server on PATH they are skipped on a developer's machine, but in CI (CI=true)
that is a usage error of the whole session: a green run must not hide 21 skipped tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.redis_server import INSTALL_HINT, RedisServer, available


def in_ci() -> bool:
    """True when the CI variable says so (CI=true, as GitHub Actions and our .ci/run set it)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """In CI, refuse to start when selected tests need redis-server and it is missing."""
    needing = [item for item in items if "redis_server" in getattr(item, "fixturenames", ())]
    if needing and in_ci() and not available():
        raise pytest.UsageError(
            f"CI is set and {len(needing)} selected tests need Redis, but {INSTALL_HINT}"
        )


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
