"""Judging steps and naming what limited a search (pure)."""

from __future__ import annotations

from typing import Any

from bench.control import Step
from bench.search import first_failure, judge, limit_of


def step(offered: float, ok: bool, reason: str = "", busy: float = 0.5) -> dict[str, Any]:
    return {"offered": offered, "ok": ok, "reason": reason, "machine_busy": busy}


def test_a_failure_retried_ok_is_not_the_limit() -> None:
    steps = [
        step(10, True),
        step(20, False, "p99"),
        step(20, True),
        step(30, False, "p99 a"),
        step(30, False, "p99 b", busy=0.95),
    ]
    failure = first_failure(steps)
    assert failure is not None and failure["reason"] == "p99 b"
    assert limit_of(failure) == "machine"
    assert first_failure(steps[:3]) is None


def test_judge_reasons() -> None:
    good = Step(offered=1000, duration=1, expected=1000, delivered=1000, p99_ms=10)
    judge(good, 50)
    assert good.ok and not good.reason
    bad = Step(offered=1000, duration=1, expected=1000, delivered=900, p99_ms=80, driver_cpu=0.95)
    judge(bad, 50)
    assert not bad.ok
    for part in ("lost 100/1000", "p99 80.0 ms", "achieved 900/s", "driver saturated"):
        assert part in bad.reason
    assert limit_of(bad.as_dict()) == "driver"
