"""`--serve`'s reference server child process: it listens, and a restart closes its members
with 1001 and comes back on the same port."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from harness.load.served import ServedServer


def join(url: str, name: str):
    return connect(f"{url}/ws/chat/lobby?username={name}", open_timeout=10, proxy=None)


@pytest.mark.slow
def test_a_restart_closes_members_with_1001_and_serves_again_on_the_same_port():
    with ServedServer() as served:
        url = served.start()
        assert url.startswith("ws://127.0.0.1:") and served.port > 0
        with join(url, "ada") as ws:
            first = json.loads(ws.recv(timeout=10))
            assert first["type"] == "welcome" and first["online"] == 1
            served.restart()
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert served.url == url and [set(r) for r in served.restarts] == [{"stop_s", "start_s"}]
        with join(url, "bob") as again:
            second = json.loads(again.recv(timeout=10))
        assert second["type"] == "welcome" and second["online"] == 1  # a fresh server
    assert served.proc is not None and served.proc.poll() is not None  # stopped on exit
