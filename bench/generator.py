"""Part 3, the load generator itself, against the broadcast baseline server.

(a) `chatbench load`'s reported p99 at 10k deliveries/s versus a naive Locust user's
    (bench/naive_locustfile.py) at the same load: 200 users, rooms of 20, random phases.
(b) The highest deliveries/s one `chatbench load` process sustains with its reported p99 at
    or under 20 ms and no saturation warning.

Both run `chatbench load` / `locust` as subprocesses and read their output files, exactly as a
user would.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import PY, ROOT, start_server, ws_url

USERS, ROOMS = 200, 10  # rooms of 20


@dataclass
class GenPlan:
    """Durations and the capacity ramp (deliveries/s) for part 3."""

    duration: float = 10.0
    payload: int = 100
    compare_rate: float = 10_000.0
    ramp: list[float] = field(default_factory=lambda: [10_000, 20_000, 30_000, 40_000, 50_000])
    limit_ms: float = 20.0
    bisect: int = 1


def per_user_rate(deliveries: float) -> float:
    """Messages per user per second giving `deliveries`/s (each message reaches 20 members)."""
    return deliveries / (USERS * USERS / ROOMS)


def run_chatbench_load(url: str, deliveries: float, plan: GenPlan) -> dict[str, Any]:
    """One `chatbench load` run (one process); the parts of results.json we report."""
    with tempfile.TemporaryDirectory(prefix="bench-load-") as out:
        cmd = [PY, "-m", "harness.cli", "load", url, "--users", str(USERS)]
        cmd += ["--rooms", str(ROOMS), "--rate", f"{per_user_rate(deliveries):.4f}"]
        cmd += ["--duration", f"{plan.duration:g}", "--out", out]  # one Locust process
        cmd += ["--payload-bytes", str(plan.payload)]
        proc = _run(cmd, timeout=plan.duration + 120)
        path = Path(out) / "results.json"
        if not path.exists():
            raise RuntimeError(
                f"chatbench load wrote no results.json (exit {proc.returncode}): "
                f"{proc.stderr.strip()[-500:]}"
            )
        data = json.loads(path.read_text())
    fan, gen, dl = data["fanout_latency_us"], data.get("generator", {}), data["deliveries"]
    return {
        "offered": deliveries,
        "p50_ms": fan["p50"] / 1000,
        "p99_ms": fan["p99"] / 1000,
        "count": fan["count"],
        "achieved": dl["delivered"] / plan.duration,
        "lost": dl["lost"],
        "expected": dl["expected"],
        "cpu_max_pct": gen.get("cpu_max", 0.0),  # percent of one core
        "saturated": bool(gen.get("saturated", False)),
        "exit_code": proc.returncode,
    }


def run_naive(url: str, deliveries: float, plan: GenPlan) -> dict[str, Any]:
    """One headless Locust run of the naive user; p99 from Locust's CSV (milliseconds)."""
    env = os.environ | {
        "NAIVE_ROOMS": str(ROOMS),
        "NAIVE_RATE": f"{per_user_rate(deliveries):.4f}",
        "NAIVE_PAYLOAD": str(plan.payload),
    }
    with tempfile.TemporaryDirectory(prefix="bench-naive-") as out:
        cmd = [PY, "-m", "locust", "-f", str(ROOT / "bench" / "naive_locustfile.py")]
        cmd += ["--headless", "-u", str(USERS), "-r", str(USERS), "-t", f"{plan.duration:g}s"]
        cmd += ["--host", url, "--csv", f"{out}/naive", "--reset-stats", "--only-summary"]
        cmd += ["--loglevel", "ERROR"]
        proc = _run(cmd, timeout=plan.duration + 120, env=env)
        stats = Path(out) / "naive_stats.csv"
        if not stats.exists():
            raise RuntimeError(
                f"locust wrote no CSV (exit {proc.returncode}): {proc.stderr[-500:]}"
            )
        rows = {row["Name"]: row for row in csv.DictReader(stats.open())}
    row = rows["fanout"]
    return {
        "offered": deliveries,
        "p50_ms": float(row["50%"]),
        "p99_ms": float(row["99%"]),
        "count": int(row["Request Count"]),
        "achieved": float(row["Requests/s"]),
    }


def _run(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def capacity(
    url: str, plan: GenPlan, log: Any = print, known: dict[float, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Step the load up the ramp until a step fails, then bisect between pass and fail.

    `known` holds runs already made at some rates (part (a)'s), reused rather than repeated.
    """
    steps: list[dict[str, Any]] = []
    lo = hi = 0.0
    for rate in plan.ramp:
        step = dict((known or {}).get(rate) or run_chatbench_load(url, rate, plan))
        steps.append(_judge(step, plan, log))
        if not step["ok"]:  # confirm a failure once (see bench/search.py)
            step = _judge(run_chatbench_load(url, rate, plan), plan, log)
            steps.append(step)
        if not step["ok"]:
            hi = rate
            break
        lo = rate
    for _ in range(plan.bisect if lo and hi else 0):
        mid = round((lo + hi) / 2, -2)
        step = _judge(run_chatbench_load(url, mid, plan), plan, log)
        steps.append(step)
        if not step["ok"]:
            step = _judge(run_chatbench_load(url, mid, plan), plan, log)
            steps.append(step)
        lo, hi = (mid, hi) if step["ok"] else (lo, mid)
    passing = [s for s in steps if s["ok"]]
    best = max(passing, key=lambda s: s["offered"]) if passing else None
    return {"capacity": best["offered"] if best else 0.0, "best": best, "steps": steps}


def _judge(step: dict[str, Any], plan: GenPlan, log: Any) -> dict[str, Any]:
    """Sustained: every owed delivery made (0.1% slack), p99 within the limit, no saturation
    warning, and the send rate held (delivered/s over the whole --duration includes the spawn
    ramp, hence 90%)."""
    step["ok"] = (
        step["p99_ms"] <= plan.limit_ms
        and not step["saturated"]
        and step["lost"] <= 0.001 * max(1, step["expected"])
        and step["achieved"] >= 0.9 * step["offered"]
    )
    log(
        f"  generator at {step['offered']:.0f}/s: delivered {step['achieved']:.0f}/s, "
        f"p99 {step['p99_ms']:.2f} ms, cpu {step['cpu_max_pct']:.0f}%, "
        f"saturated {step['saturated']} -> {'ok' if step['ok'] else 'FAIL'}"
    )
    return step


def run(plan: GenPlan, log: Any = print) -> dict[str, Any]:
    """Part 3 against a fresh broadcast baseline server."""
    out: dict[str, Any] = {"config": {**plan.__dict__, "users": USERS, "rooms": ROOMS}}
    with start_server("broadcast") as server:
        url = ws_url(server.port)
        ours = run_chatbench_load(url, plan.compare_rate, plan)
        log(f"  chatbench load at {plan.compare_rate:.0f}/s: p99 {ours['p99_ms']:.2f} ms")
        naive = run_naive(url, plan.compare_rate, plan)
        log(f"  naive Locust at {plan.compare_rate:.0f}/s: p99 {naive['p99_ms']:.2f} ms")
        out["compare"] = {
            "ours": ours,
            "naive": naive,
            "ratio": naive["p99_ms"] / ours["p99_ms"] if ours["p99_ms"] else float("nan"),
        }
        out["capacity"] = capacity(url, plan, log, known={plan.compare_rate: ours})
    return out
