"""The driver at a tiny scale against a real server: every owed delivery is counted once."""

from __future__ import annotations

import pytest

from bench.control import Drivers
from bench.driver import Driver
from bench.procs import Proc, ws_url

pytestmark = pytest.mark.anyio


async def test_step_ledger_in_process(broadcast_server: Proc) -> None:
    driver = Driver("t")
    try:
        await driver.connect([ws_url(broadcast_server.port)], ["r0", "r1"], 3, timeout=10)
        assert [m.online for m in driver.members] == [1, 2, 3, 1, 2, 3]
        pids = [broadcast_server.pid]
        result = await driver.step(90.0, 0.2, 0.6, drain=5.0, payload=64, pids=pids)
    finally:
        driver.close()
    assert result["sent"] > 0
    assert result["expected"] == 3 * result["sent"]  # rooms of 3: sender included
    assert result["delivered"] == result["expected"]
    assert (result["lost"], result["disordered"], result["closed"]) == (0, 0, 0)
    assert 0 < result["p50_us"] <= result["p99_us"] <= result["max_us"]
    # Seconds waited for a CPU per second measured, the server's and this driver's own.
    assert 0 <= result["server_wait"] < 1 and 0 <= result["driver_wait"] < 1


def test_driver_processes_and_stalled_member(broadcast_server: Proc) -> None:
    with Drivers(2) as drivers:
        drivers.connect([ws_url(broadcast_server.port)], ["a", "b"], 4, timeout=20)
        drivers.stall(ws_url(broadcast_server.port), "a", timeout=10)
        step = drivers.step(200.0, duration=0.6, warmup=0.2, payload=32, drain=5.0)
    assert step.sent > 0 and step.expected == 4 * step.sent
    assert step.delivered == step.expected and step.lost == 0
    assert step.p99_ms > 0 and step.drivers_cpu_total >= step.driver_cpu
    assert step.server_wait is None  # no server pids given: not measured, not 0
    assert step.driver_wait is not None and step.driver_wait >= 0
