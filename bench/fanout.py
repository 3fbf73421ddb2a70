"""Parts 1 and 4: highest sustained deliveries/s with p99 fan-out at or under 50 ms.

Part 1 runs the reference server and both baselines the same way in the same run (same rooms,
members, message sizes, drivers); part 4 runs the reference server as one process against two
processes sharing a fresh redis-server, members of every room spread over both processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from bench import background
from bench.search import Plan, fanout_env, search


@dataclass
class FanoutConfig:
    """The room layout every server gets."""

    rooms: int = 10
    members: int = 20
    drivers: int = 2


def part1(kinds: list[str], cfg: FanoutConfig, plan: Plan, log: Any = print) -> dict[str, Any]:
    """The capacity search for each server kind."""
    out: dict[str, Any] = {"config": {**cfg.__dict__, **plan.__dict__}, "servers": {}}
    for kind in kinds:
        env = partial(fanout_env, kind, cfg.rooms, cfg.members, drivers=cfg.drivers)
        out["servers"][kind] = _guarded(kind, env, plan, log)
    return out


def part4(cfg: FanoutConfig, plan: Plan, log: Any = print) -> dict[str, Any]:
    """One reference process against two sharing redis."""
    setups = {
        "one process": partial(fanout_env, "reference", cfg.rooms, cfg.members),
        "two processes + redis": partial(
            fanout_env, "reference", cfg.rooms, cfg.members, processes=2, redis=True
        ),
    }
    out: dict[str, Any] = {"config": {**cfg.__dict__, **plan.__dict__}, "setups": {}}
    for label, env in setups.items():
        out["setups"][label] = _guarded(label, partial(env, drivers=cfg.drivers), plan, log)
    one, two = (out["setups"][k].get("capacity", 0.0) for k in setups)
    out["ratio"] = two / one if one and two else float("nan")
    return out


def _guarded(label: str, env: Any, plan: Plan, log: Any) -> dict[str, Any]:
    """A search's results, or the error that stopped it twice (the report shows it).

    One retry: an environment that failed to start (seen once, before servers with Redis were
    waited on until /healthz said ok: two processes + Redis, members not all announced within
    30 s) gets a second chance; the error is kept in the results.
    """
    errors: list[str] = []
    before = {background.KEY: background.check(label, log)}
    while len(errors) < 2:
        try:
            result = search(label, env, plan, log)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            log(f"  {label}: error {exc}")
            continue
        log(f"  {label}: capacity {result.capacity:.0f} deliveries/s ({result.limited_by})")
        found = result.as_dict() | before
        return {**found, "retried_after": errors[0]} if errors else found
    return {"label": label, "error": errors[-1], "capacity": 0.0} | before
