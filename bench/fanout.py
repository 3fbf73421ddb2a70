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
from bench.search import Plan, fanout_env, interleaved, search


@dataclass
class FanoutConfig:
    """The room layout every server gets."""

    rooms: int = 10
    members: int = 20
    drivers: int = 2


def part1(kinds: list[str], cfg: FanoutConfig, plan: Plan, log: Any = print) -> dict[str, Any]:
    """The capacity search for each server kind, interleaved step by step (search.interleaved);
    should that fail (an environment that would not start), one server after the other, each
    with one retry."""
    out: dict[str, Any] = {"config": {**cfg.__dict__, **plan.__dict__, "interleaved": True}}
    envs = {k: partial(fanout_env, k, cfg.rooms, cfg.members, drivers=cfg.drivers) for k in kinds}
    before = {background.KEY: background.check("part 1", log)}
    try:
        found = interleaved(envs, plan, log)
    except Exception as exc:
        log(f"  interleaved search failed ({type(exc).__name__}: {exc}); one server at a time")
        out["config"] |= {"interleaved": False, "interleave_error": f"{type(exc).__name__}: {exc}"}
        out["servers"] = {k: _guarded(k, env, plan, log) for k, env in envs.items()}
        return out
    for kind, result in found.items():
        log(f"  {kind}: capacity {result.capacity:.0f} deliveries/s ({result.limited_by})")
    out["servers"] = {k: r.as_dict() | before for k, r in found.items()}
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


def common_cpu(servers: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """Server CPU per delivery (us) of each server at the highest offered rate every server
    passed: the same load on each, the steadier comparison on a shared machine (capacity
    moves with whatever else runs). The lower of a rate's passing measurements counts.
    (0.0, {}) when no rate passed on all of them."""
    passed: dict[str, dict[float, float]] = {}
    for kind, res in servers.items():
        per = passed.setdefault(kind, {})
        for s in res.get("steps", []):
            if s.get("ok") and s.get("achieved"):
                us = 1e6 * s["server_cpu"] / s["achieved"]
                per[s["offered"]] = min(per.get(s["offered"], us), us)
    rates = set.intersection(*(set(p) for p in passed.values())) if passed else set()
    if not rates:
        return 0.0, {}
    rate = max(rates)
    return rate, {kind: per[rate] for kind, per in passed.items()}
