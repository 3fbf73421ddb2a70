"""Finding the highest sustained deliveries/s under a p99 limit, by stepping the offered rate.

A step passes when the server kept up: p99 fan-out latency at or under the limit, no
connection dropped, (almost) nothing lost, deliveries/s within 5% of the offered rate, and the
driver itself not saturated (else the step says so: the result would measure the driver).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.control import Drivers, Step
from bench.procs import Proc, start_redis, start_server, ws_url

DRIVER_CPU_LIMIT = 0.90
MACHINE_BUSY = 0.85  # share of all cores busy (any process) that means "CPU-bound box"


@dataclass
class Plan:
    """How to search: geometric ramp from `start` by `factor`, then `bisect` refinements."""

    start: float
    factor: float
    max_rate: float
    bisect: int
    duration: float
    warmup: float
    payload: int
    limit_ms: float = 50.0


@dataclass
class Env:
    """Servers, optional redis, and connected drivers for one series of steps."""

    servers: list[Proc]
    drivers: Drivers
    redis: Proc | None = None

    def pids(self) -> list[int]:
        return [s.pid for s in self.servers]


@dataclass
class Search:
    """All steps measured and the best passing one."""

    label: str
    steps: list[Step] = field(default_factory=list)
    best: Step | None = None
    limited_by: str = "server"

    @property
    def capacity(self) -> float:
        return self.best.achieved if self.best else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "capacity": self.capacity,
            "limited_by": self.limited_by,
            "best": self.best.as_dict() if self.best else None,
            "steps": [s.as_dict() for s in self.steps],
        }


def judge(step: Step, limit_ms: float) -> None:
    """Set step.ok and step.reason."""
    reasons = []
    if step.closed:
        reasons.append(f"{step.closed} connections closed")
    if step.lost > 0.001 * max(1, step.expected):
        reasons.append(f"lost {step.lost}/{step.expected}")
    if step.p99_ms > limit_ms:
        reasons.append(f"p99 {step.p99_ms:.1f} ms > {limit_ms:g}")
    if step.achieved < 0.95 * step.offered:
        reasons.append(f"achieved {step.achieved:.0f}/s of {step.offered:.0f}/s")
    if step.driver_cpu > DRIVER_CPU_LIMIT:
        reasons.append(f"driver saturated (cpu {step.driver_cpu:.0%})")
    step.ok = not reasons
    step.reason = "; ".join(reasons)


@contextmanager
def fanout_env(
    kind: str, rooms: int, members: int, processes: int = 1, redis: bool = False, drivers: int = 1
) -> Iterator[Env]:
    """Start `processes` servers of `kind` (sharing a fresh redis if asked), connect drivers."""
    started: list[Proc] = []
    redis_proc = start_redis() if redis else None
    redis_url = f"redis://127.0.0.1:{redis_proc.port}/0" if redis_proc else None
    driver_set: Drivers | None = None
    try:
        for _ in range(processes):
            started.append(start_server(kind, redis_url))
        driver_set = Drivers(drivers)
        names = [f"room{r}" for r in range(rooms)]
        driver_set.connect([ws_url(s.port) for s in started], names, members)
        yield Env(started, driver_set, redis_proc)
    finally:
        if driver_set is not None:
            driver_set.stop()
        for s in started:
            s.stop()
        if redis_proc is not None:
            redis_proc.stop()


def measure(env: Env, rate: float, plan: Plan) -> Step:
    """One step on an open environment, with the servers' CPU share over it."""
    step = env.drivers.step(rate, plan.duration, plan.warmup, plan.payload, pids=env.pids())
    judge(step, plan.limit_ms)
    return step


def search(
    label: str, open_env: Callable[[], AbstractContextManager[Env]], plan: Plan, log: Any = print
) -> Search:
    """Ramp until a step fails, then bisect (geometric mean) between the last pass and fail.

    After a failure the environment is restarted: an overloaded server's backlog must not
    leak into the next step.
    """
    result = Search(label)
    lo, hi, rate = 0.0, 0.0, plan.start
    with open_env() as env:
        while rate <= plan.max_rate:
            step = _confirmed(result, env, rate, plan, log)
            if not step.ok:
                hi = rate
                break
            lo, rate = rate, rate * plan.factor
    for _ in range(plan.bisect if lo and hi else 0):
        mid = math.sqrt(lo * hi)
        with open_env() as env:
            step = _confirmed(result, env, mid, plan, log)
        lo, hi = (mid, hi) if step.ok else (lo, mid)
    return _finish(result)


@dataclass
class Course:
    """Where one server's search stands: last passing and first failing rate, next rate."""

    result: Search
    open_env: Callable[[], AbstractContextManager[Env]]
    rate: float
    lo: float = 0.0
    hi: float = 0.0

    def advance(self, step: Step, factor: float) -> None:
        """After a ramp step: go up by `factor`, or stop the ramp at a failure."""
        if step.ok:
            self.lo, self.rate = self.rate, self.rate * factor
        else:
            self.hi = self.rate

    def ramping(self, plan: Plan) -> bool:
        return not self.hi and self.rate <= plan.max_rate


def interleaved(
    envs: Mapping[str, Callable[[], AbstractContextManager[Env]]], plan: Plan, log: Any = print
) -> dict[str, Search]:
    """`search` for several servers, step by step in turn: every rate of the ramp is measured
    on each server before the next rate, and each bisection round on each before the next
    round, so a busy moment of a shared machine falls on all of them rather than on one
    server's whole search. Environments stay open together during the ramp."""
    courses = {k: Course(Search(k), env, plan.start) for k, env in envs.items()}
    with ExitStack() as stack:
        opened = {k: stack.enter_context(c.open_env()) for k, c in courses.items()}
        while any(c.ramping(plan) for c in courses.values()):
            for k, c in courses.items():
                if c.ramping(plan):
                    c.advance(_confirmed(c.result, opened[k], c.rate, plan, log), plan.factor)
    for _ in range(plan.bisect):
        for c in courses.values():
            if c.lo and c.hi:
                _bisect_once(c, plan, log)
    return {k: _finish(c.result) for k, c in courses.items()}


def _bisect_once(c: Course, plan: Plan, log: Any) -> None:
    mid = math.sqrt(c.lo * c.hi)
    with c.open_env() as env:
        step = _confirmed(c.result, env, mid, plan, log)
    c.lo, c.hi = (mid, c.hi) if step.ok else (c.lo, mid)


def _finish(result: Search) -> Search:
    """Best passing step and what limited the search."""
    passing = [s for s in result.steps if s.ok]
    result.best = max(passing, key=lambda s: s.achieved) if passing else None
    failure = first_failure([s.as_dict() for s in result.steps])
    if failure is not None:
        result.limited_by = limit_of(failure)
    return result


def first_failure(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last measurement at the lowest rate where every measurement failed (confirmed)."""
    passed = {s["offered"] for s in steps if s["ok"]}
    failed = [s for s in steps if not s["ok"] and s["offered"] not in passed]
    if not failed:
        return None
    lowest = min(s["offered"] for s in failed)
    return [s for s in failed if s["offered"] == lowest][-1]


def limit_of(step: dict[str, Any]) -> str:
    """What stopped a failing step: the driver, the whole machine's CPU, or the server."""
    if "driver saturated" in step["reason"]:
        return "driver"
    if step.get("machine_busy", 0.0) > MACHINE_BUSY:
        return "machine"
    return "server"


def _confirmed(result: Search, env: Env, rate: float, plan: Plan, log: Any) -> Step:
    """A step; a failure counts only if the same rate fails again right after.

    On a shared 2-core machine one scheduling hiccup can push a short step's p99 over the
    limit; a real limit fails twice. Both measurements are kept in the results.
    """
    step = _record(result, measure(env, rate, plan), log)
    if step.ok or step.closed:
        return step
    return _record(result, measure(env, rate, plan), log)


def _record(result: Search, step: Step, log: Any) -> Step:
    result.steps.append(step)
    verdict = "ok" if step.ok else f"FAIL ({step.reason})"
    log(
        f"  {result.label}: offered {step.offered:8.0f}/s achieved {step.achieved:8.0f}/s "
        f"p99 {step.p99_ms:7.2f} ms server cpu {step.server_cpu:4.0%} "
        f"driver cpu {step.driver_cpu:4.0%} machine {step.machine_busy:4.0%}{_waited(step)} "
        f"{verdict}"
    )
    return step


def _waited(step: Step) -> str:
    """How long the server and the drivers waited for a CPU, when the kernel says."""
    if step.server_wait is None or step.driver_wait is None:
        return ""
    return f" waited {step.server_wait:4.0%}/{step.driver_wait:4.0%}"
