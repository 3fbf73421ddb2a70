"""bench.procs: the run-queue wait that tells a CPU-starved step from a slow server."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from bench.procs import run_delay_seconds

pytestmark = pytest.mark.skipif(
    not os.path.exists(f"/proc/{os.getpid()}/schedstat"), reason="needs Linux schedstats"
)

SPIN = "import time\nend = time.process_time() + {s}\nwhile time.process_time() < end: pass\n"


def _spinners(count: int, seconds: float) -> list[subprocess.Popen[bytes]]:
    """`count` processes each burning `seconds` of CPU, all on the first allowed CPU."""
    cpu = min(os.sched_getaffinity(0))
    procs = [subprocess.Popen([sys.executable, "-c", SPIN.format(s=seconds)]) for _ in range(count)]
    for p in procs:
        os.sched_setaffinity(p.pid, {cpu})
    return procs


def _wait_delay(procs: list[subprocess.Popen[bytes]]) -> float:
    """Run-queue seconds of `procs`, read just before they end (bounded by 20 s)."""
    deadline, last = time.monotonic() + 20, 0.0
    while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
        last = run_delay_seconds([p.pid for p in procs]) or last
        time.sleep(0.02)  # sampling a counter, not synchronising
    for p in procs:
        p.wait(20)
    return last


def test_three_processes_sharing_one_cpu_each_wait_while_the_others_run() -> None:
    # 0.3 s of CPU each on one CPU: each waits about 0.6 s, 1.8 s in all; the run time
    # (schedstat's first field) would be 0.9 s.
    assert _wait_delay(_spinners(3, 0.3)) > 1.2


def test_a_sleeping_process_does_not_wait_for_a_cpu() -> None:
    # Measured from once it sleeps, so its start-up's turn on a busy CI box does not count.
    code = "import sys, time; print('asleep', flush=True); time.sleep(0.6)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"asleep\n"
        before = run_delay_seconds([proc.pid])
        assert before is not None
        assert _wait_delay([proc]) - before < 0.05
    finally:
        proc.kill()
        proc.communicate(timeout=20)


def test_processes_that_are_gone_are_not_measured() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(20)
    assert run_delay_seconds([proc.pid]) is None
    assert run_delay_seconds([]) is None
