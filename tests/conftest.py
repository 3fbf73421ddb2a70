"""Shared test configuration: async tests run on asyncio through anyio's pytest plugin."""

from collections.abc import Iterator

import pytest


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def reference_url() -> Iterator[str]:
    """Base URL (ws://127.0.0.1:PORT) of a reference server running for this test."""
    from reference_server.embedded import running_server

    with running_server() as url:
        yield url
