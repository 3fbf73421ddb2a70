"""Judging steps and naming what limited a search (pure)."""

from __future__ import annotations

from typing import Any

import pytest

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


def test_interleaved_measures_every_server_at_a_rate_before_the_next(monkeypatch: Any) -> None:
    """Servers of capacity 30 and 50 (fake measurements): the same rate on each in turn, a
    failure confirmed once, bisection rounds in turn, each search's own best and limit."""
    from contextlib import contextmanager

    from bench import search as search_mod

    capacity = {"a": 30.0, "b": 50.0}
    calls: list[tuple[str, float]] = []

    @contextmanager
    def env(name: str) -> Any:
        yield name

    def fake_measure(env_name: Any, rate: float, plan: Any) -> Step:
        calls.append((env_name, round(rate, 3)))
        n = round(rate * 1000)
        s = Step(offered=rate, duration=1000, expected=n, delivered=n, p99_ms=5)
        s.ok = rate <= capacity[env_name]
        s.reason = "" if s.ok else "p99 99.0 ms > 50"
        return s

    monkeypatch.setattr(search_mod, "measure", fake_measure)
    plan = search_mod.Plan(
        start=10, factor=2, max_rate=1000, bisect=1, duration=1, warmup=0, payload=0
    )
    found = search_mod.interleaved(
        {"a": lambda: env("a"), "b": lambda: env("b")}, plan, log=lambda *_: None
    )
    assert calls == [
        *[("a", 10), ("b", 10), ("a", 20), ("b", 20)],
        *[("a", 40), ("a", 40), ("b", 40), ("b", 80), ("b", 80)],  # failures confirmed once
        *[("a", 28.284), ("b", 56.569), ("b", 56.569)],  # one bisection round, in turn
    ]
    best = {k: r.best.offered if r.best else 0 for k, r in found.items()}
    assert best == {"a": pytest.approx(28.284, abs=1e-3), "b": 40}
    assert found["a"].limited_by == found["b"].limited_by == "server"
