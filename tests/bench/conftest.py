"""Baseline servers started once per module, as real subprocesses on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.procs import Proc, start_server


@pytest.fixture(scope="module", params=["seed", "broadcast"])
def baseline(request: pytest.FixtureRequest) -> Iterator[Proc]:
    """Each baseline server in turn."""
    with start_server(request.param) as server:
        yield server


@pytest.fixture(scope="module")
def broadcast_server() -> Iterator[Proc]:
    """The websockets.broadcast baseline."""
    with start_server("broadcast") as server:
        yield server
