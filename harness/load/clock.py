"""Worker clock offsets to the master, NTP-style over Locust's message channel.

Latencies never cross machines (a room lives in one process), so offsets only line up the
per-second rows: a worker shifts its seconds by its offset rounded to whole seconds and tells
the master its estimate and error bound (half the best round trip of five pings).
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.load.ledger import NS

PING = "chatbench_clock_ping"
PONG = "chatbench_clock_pong"

CLOCK: dict[str, Any] = {"shift_s": 0, "offset_ms": 0.0, "bound_ms": 0.0, "samples": []}


def sync(runner: WorkerRunner) -> None:
    """Estimate this worker's clock offset to the master (NTP-style, best of five)."""
    for _ in range(5):
        runner.send_message(PING, {"t1": time.time_ns()})
        gevent.sleep(0.2)


def on_ping(environment: Environment, msg: Any, **_: Any) -> None:
    """Master: answer a worker's ping with the master's time."""
    runner = environment.runner
    assert isinstance(runner, MasterRunner)
    runner.send_message(PONG, {"t1": msg.data["t1"], "t2": time.time_ns()}, client_id=msg.node_id)


def on_pong(environment: Environment, msg: Any, **_: Any) -> None:
    """Worker: keep the estimate of the ping with the smallest round trip."""
    t3 = time.time_ns()
    t1, t2 = msg.data["t1"], msg.data["t2"]
    rtt = t3 - t1
    best = CLOCK["samples"][0][0] if CLOCK["samples"] else None
    if best is None or rtt < best:
        CLOCK["samples"] = [(rtt, t2 - (t1 + t3) // 2)]
        offset = CLOCK["samples"][0][1]
        CLOCK["offset_ms"] = offset / 1e6
        CLOCK["bound_ms"] = rtt / 2e6
        CLOCK["shift_s"] = round(offset / NS)
