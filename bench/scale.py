"""Part 5, connection scale: many mostly idle members, as chat load really is.

For each step (1k / 5k / 10k / 20k members, rooms of 20, one message per member every 10 s)
and each server (the reference server, the websockets.broadcast baseline), one fresh server
and one `chatbench load` process (a single Locust process, as a user would run it). Measured
only once every member is connected (the spawn ramp is never in the numbers): fan-out p50/p99
from the run's per-second histograms (fanout.hlog), server and generator CPU, and memory per
connection: the server's RSS over its RSS after one warm-up connection, the generator's RSS
over its RSS with one room of 20 (a calibration run), divided by the members.

The servers of one step run back to back (interleaved step by step), so a busy moment of the
shared machine touches both. A step whose members need more file descriptors than the
processes can get is reported as skipped, with the limit, never run half-connected. A step
that fails on latency alone is measured once more (`_confirmed`).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from hdrh.histogram import HdrHistogram
from websockets.sync.client import connect

from bench import background, nofile
from bench.procs import PY, ROOT, Proc, free_port, server_command, ws_url
from harness.load.hist import new_histogram

ROOM = 20
RATE = 0.1  # messages per member per second
FD_SPARE = 400
"""Descriptors a process needs beyond its members (the reference server keeps 320 for
handshakes and its own files)."""
KINDS = ("reference", "broadcast")
CORES = psutil.cpu_count() or 1
SOURCES = "127.0.0.1-127.0.0.8"
"""Local addresses a step's connections come from (Linux routes all of 127/8 to loopback).
From one address, connect() searches the ephemeral port range for a port free towards the
server's one port; Linux tries the even half first, so past about 14,000 connections each
search walks it. In the last 5,000 connections of a 19,600-member ramp the generator's kernel
time was 40-47% of a core from one address, 11-20% from these 8 (2026-12-02)."""
Sample = tuple[float, int, float, int, float, float, float]
"""time, server RSS and CPU s, generator RSS and CPU s, machine idle and softirq CPU s."""


@dataclass
class ScalePlan:
    """Steps (members per server and per generator process) and how long each is measured."""

    steps: list[int] = field(default_factory=lambda: [1000, 5000, 10000, 20000])
    measure: float = 20.0
    """Seconds measured once every member is connected (and `settle` s more have passed)."""
    settle: float = 2.0
    spawn_rate: float = 500.0
    connect_rate: float = 250.0
    """Connections/s assumed when sizing the run: a slower ramp only shortens the window."""
    limit_ms: float = 20.0
    kb_limit: float = 20.0
    sources: bool = field(default_factory=lambda: sys.platform.startswith("linux"))
    """Spread the connections over SOURCES (--source-addresses; other systems may not route
    127.0.0.2 and up)."""


# -- sampling ------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """RSS and CPU seconds of the server and the generator (the Locust child), and the whole
    machine's idle and softirq CPU seconds (softirq: the kernel's loopback delivery, charged to
    whichever process it interrupted), every 0.25 s, stamped with time.time() (the load run's
    per-second rows are whole epoch seconds)."""

    def __init__(self, server_pid: int, load_pid: int) -> None:
        super().__init__(daemon=True)
        self.server = psutil.Process(server_pid)
        self.load = psutil.Process(load_pid)
        self.generator: psutil.Process | None = None
        self.samples: list[Sample] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.25):
            try:
                now, server, generator = time.time(), _usage(self.server), self._generator()
                self.samples.append((now, *server, *generator, *_machine()))
            except psutil.Error:
                return

    def _generator(self) -> tuple[int, float]:
        if self.generator is None:
            found = [p for p in self.load.children(recursive=True) if "locust" in _cmd(p)]
            if not found:
                return 0, 0.0
            self.generator = found[0]
        return _usage(self.generator)


def _cmd(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def _usage(proc: psutil.Process) -> tuple[int, float]:
    t = proc.cpu_times()
    return int(proc.memory_info().rss), float(t.user + t.system)


def _machine() -> tuple[float, float]:
    t = psutil.cpu_times()
    return float(t.idle), float(getattr(t, "softirq", 0.0))


def usage(samples: list[Sample], t0: float, t1: float) -> dict[str, float]:
    """Peak RSS and mean CPU share (of one core) of server and generator between t0 and t1,
    the machine's busy share (of all its cores) and its softirq CPU (in cores)."""
    inside = [s for s in samples if t0 <= s[0] <= t1]
    if len(inside) < 2:
        return {}
    first, last = inside[0], inside[-1]
    wall = max(1e-9, last[0] - first[0])
    return {
        "server_rss": float(max(s[1] for s in inside)),
        "server_cpu": (last[2] - first[2]) / wall,
        "generator_rss": float(max(s[3] for s in inside)),
        "generator_cpu": (last[4] - first[4]) / wall,
        "cpu_s": last[2] - first[2],
        "machine_busy": 1 - (last[5] - first[5]) / (wall * CORES),
        "softirq_cpu": (last[6] - first[6]) / wall,
    }


# -- the run's own figures -----------------------------------------------------------------


def window(timeseries: list[dict[str, Any]], members: int, settle: float) -> tuple[int, int] | None:
    """Offsets [first, last] of the seconds to measure: from `settle` s after the second in
    which every member was connected, to the last full second of the send phase (the second
    in which sending stopped is partial). None when the members never were all connected."""
    full = next((int(r["t"]) for r in timeseries if r["connections"] >= members), None)
    if full is None:
        return None
    sending = [int(r["t"]) for r in timeseries if r["sent"] > 0]
    first, last = full + 1 + round(settle), max(sending, default=0) - 1
    return (first, last) if last >= first else None


def hlog_histograms(path: Path) -> tuple[int, dict[int, HdrHistogram]]:
    """(start epoch second, {offset: that second's fan-out histogram}) of a fanout.hlog."""
    start, out = 0, {}
    for line in path.read_text().splitlines():
        if line.startswith("#[StartTime:"):
            start = int(float(line.split()[1]))
        elif line and line[0].isdigit():
            offset, _, _, blob = line.split(",", 3)
            out[int(float(offset))] = HdrHistogram.decode(blob.encode())
    return start, out


def latency(hists: dict[int, HdrHistogram], first: int, last: int) -> dict[str, float]:
    """p50/p99/max (ms) and count over the seconds first..last (exact HDR addition)."""
    total = new_histogram()
    for offset in range(first, last + 1):
        if offset in hists:
            total.add(hists[offset])
    count = total.get_total_count()
    if not count:
        return {"count": 0, "p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    return {
        "count": count,
        "p50_ms": total.get_value_at_percentile(50) / 1000,
        "p99_ms": total.get_value_at_percentile(99) / 1000,
        "max_ms": total.get_max_value() / 1000,
    }


def in_window(timeseries: list[dict[str, Any]], first: int, last: int, key: str) -> int:
    """Sum of a per-second counter over the seconds first..last."""
    return sum(int(r.get(key, 0)) for r in timeseries if first <= int(r["t"]) <= last)


def per_kb(rss: float, base: float, count: int) -> float:
    """KiB per connection: the RSS grown over `base`, divided by `count`."""
    return (rss - base) / 1024 / count if count > 0 else float("nan")


# -- one step ------------------------------------------------------------------------------


def duration(members: int, plan: ScalePlan) -> float:
    """The send phase (--duration, counted from the start of spawning) of a step."""
    ramp = members / min(plan.spawn_rate, plan.connect_rate)
    return round(ramp + 5 + plan.settle + plan.measure)


def load_command(url: str, users: int, seconds: float, out: str, plan: ScalePlan) -> list[str]:
    """`chatbench load` in one Locust process: rooms of 20, one message per member per 10 s."""
    cmd = [PY, "-m", "harness.cli", "load", url, "--users", str(users)]
    cmd += ["--rooms", str(max(1, users // ROOM)), "--rate", f"{RATE:g}"]
    cmd += ["--duration", f"{seconds:g}", "--spawn-rate", f"{plan.spawn_rate:g}", "--out", out]
    return [*cmd, "--source-addresses", SOURCES] if plan.sources else cmd


def run_load(url: str, users: int, server: Proc, plan: ScalePlan) -> dict[str, Any]:
    """One `chatbench load` run, sampled; its results.json, hlog and the samples."""
    seconds = duration(users, plan)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as out:
        proc = subprocess.Popen(
            nofile.launch(users + FD_SPARE, load_command(url, users, seconds, out, plan)),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        sampler = Sampler(server.pid, proc.pid)
        sampler.start()
        try:
            _, err = proc.communicate(timeout=seconds + 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        finally:
            sampler.stop.set()
            sampler.join(5)
        results, hlog = Path(out) / "results.json", Path(out) / "fanout.hlog"
        if not results.exists() or not hlog.exists():
            raise RuntimeError(
                f"chatbench load wrote no results (exit {proc.returncode}): {err.strip()[-400:]}"
            )
        start, hists = hlog_histograms(hlog)
        data = json.loads(results.read_text())
    return {"data": data, "start": start, "hists": hists, "samples": sampler.samples}


def start_scale_server(kind: str, members: int) -> Proc:
    """Server `kind` on a free port, allowed descriptors for `members`, warmed by one member."""
    port = free_port()
    server = Proc(nofile.launch(members + FD_SPARE, server_command(kind, port)), port, kind)
    with (
        contextlib.suppress(Exception),
        connect(
            f"{ws_url(port)}/ws/chat/warmup?username=warmup", open_timeout=10, proxy=None
        ) as ws,
    ):
        ws.recv(timeout=10)  # the welcome: every lazy import of the member path is done
    return server


def measure_step(kind: str, members: int, plan: ScalePlan) -> dict[str, Any]:
    """One server of `kind` with `members` members: the step's figures (see the module doc)."""
    with start_scale_server(kind, members) as server:
        base = float(server.ps.memory_info().rss)
        run = run_load(ws_url(server.port), members, server, plan)
    return summarize(run, members, base, plan) | {"server_base_rss": base}


def summarize(run: dict[str, Any], members: int, base: float, plan: ScalePlan) -> dict[str, Any]:
    """A step's figures from its load run (results.json, per-second histograms, samples)."""
    data, series = run["data"], run["data"]["timeseries"]
    span = window(series, members, plan.settle)
    conns = data["connections"]
    out: dict[str, Any] = {
        "members": members,
        "connected": max((r["connections"] for r in series), default=0),
        "connect_errors": conns.get("errors", 0),
        "server_closes": sum(conns.get("server_closes", {}).values()),
        "lost_total": data["deliveries"]["lost"],
    }
    if span is None:
        why = f"only {out['connected']} of {members} connected"
        why += f" ({out['connect_errors']} failed attempts)" if out["connect_errors"] else ""
        if out["connected"] >= members:
            why = f"the ramp took the whole run ({duration(members, plan):g} s)"
        return out | {"ok": False, "reason": why}
    first, last = span
    t0, t1 = run["start"] + first, run["start"] + last + 1
    used = usage(run["samples"], t0, t1)
    delivered = in_window(series, first, last, "delivered")
    out |= latency(run["hists"], first, last) | used
    out |= {
        "measured_s": last - first + 1,
        "delivered_per_s": delivered / (last - first + 1),
        "lost": in_window(series, first, last, "lost"),
        "server_kb_per_conn": per_kb(used.get("server_rss", base), base, members),
        "server_cpu_us_per_delivery": 1e6 * used.get("cpu_s", 0.0) / delivered
        if delivered
        else float("nan"),
        "generator_cpu_max": data.get("generator", {}).get("cpu_max", 0.0),
    }
    return judge(out, plan)


def judge(step: dict[str, Any], plan: ScalePlan) -> dict[str, Any]:
    """ok: everybody connected, nothing lost or closed, p99 within the limit."""
    reasons = []
    if step.get("lost", 0) or step["server_closes"]:
        reasons.append(f"lost {step.get('lost', 0)}, server closes {step['server_closes']}")
    if not step.get("count"):
        reasons.append("no delivery measured")
    elif step["p99_ms"] > plan.limit_ms:
        reasons.append(f"p99 {step['p99_ms']:.1f} ms > {plan.limit_ms:g}")
    return step | {"ok": not reasons, "reason": "; ".join(reasons)}


# -- the part ------------------------------------------------------------------------------


def calibrate(plan: ScalePlan, log: Any) -> float:
    """The generator's RSS with one room of 20 members (the base of its per-user figure)."""
    short = ScalePlan([ROOM], measure=3, settle=1, spawn_rate=plan.spawn_rate)
    with start_scale_server("reference", ROOM) as server:
        run = run_load(ws_url(server.port), ROOM, server, short)
    span = window(run["data"]["timeseries"], ROOM, short.settle)
    used = usage(run["samples"], *_epoch(run["start"], span)) if span else {}
    if "generator_rss" not in used:
        raise RuntimeError("the calibration run (one room of 20) measured nothing")
    log(f"  generator with {ROOM} members: {used['generator_rss'] / 2**20:.0f} MiB")
    return used["generator_rss"]


def _epoch(start: int, span: tuple[int, int]) -> tuple[float, float]:
    return float(start + span[0]), float(start + span[1] + 1)


def run(plan: ScalePlan, log: Any = print, kinds: tuple[str, ...] = KINDS) -> dict[str, Any]:
    """Every step for every server kind, interleaved step by step."""
    limit = nofile.reachable(max(plan.steps) + FD_SPARE)
    out: dict[str, Any] = {"config": {**plan.__dict__, "room": ROOM, "rate": RATE}}
    out |= {"nofile": limit, "cores": CORES, background.KEY: background.check("scale", log)}
    out["generator_base_rss"] = base = calibrate(plan, log)
    out["steps"] = steps = {}
    for members in plan.steps:
        steps[str(members)] = {kind: _step(kind, members, base, limit, plan, log) for kind in kinds}
    return out


def fit(members: int, limit: int) -> int:
    """`members`, or as many whole rooms as `limit` descriptors allow (FD_SPARE kept)."""
    if members + FD_SPARE <= limit:
        return members
    return max(0, (limit - FD_SPARE) // ROOM * ROOM)


def _step(
    kind: str, members: int, gen_base: float, limit: int, plan: ScalePlan, log: Any
) -> dict[str, Any]:
    planned, members = members, fit(members, limit)
    if members < ROOM:
        reason = f"needs {planned + FD_SPARE} file descriptors, the limit is {limit}"
        log(f"  {kind} {planned}: skipped ({reason})")
        return {"members": planned, "skipped": reason, "ok": False}
    busy = background.check(f"scale {kind} {members}", log)
    try:
        step = _confirmed(kind, members, plan, log)
    except Exception as exc:
        log(f"  {kind} {members}: error {type(exc).__name__}: {exc}")
        return {"members": members, "error": f"{type(exc).__name__}: {exc}", "ok": False}
    step |= {background.KEY: busy, "planned": planned, "nofile": limit}
    if "generator_rss" in step:
        step["generator_kb_per_user"] = per_kb(step["generator_rss"], gen_base, members - ROOM)
    log(_line(kind, step))
    return step


def _confirmed(kind: str, members: int, plan: ScalePlan, log: Any) -> dict[str, Any]:
    """A step; one that failed on latency alone is measured again on a fresh server, and
    counts as failed only if it fails again (as part 1's `search._confirmed`): on a shared
    2-core machine one hiccup can push a 20 s window's p99 over the limit, a real limit fails
    twice. Loss, closes and members that never connected are never repeated away. The first
    attempt is kept in the step (`first_attempt`)."""
    step = measure_step(kind, members, plan)
    if step["ok"] or not _latency_only(step):
        return step
    log(f"  {kind} {members}: p99 {step['p99_ms']:.1f} ms, measuring again on a fresh server")
    first = {k: step[k] for k in ("p50_ms", "p99_ms", "max_ms", "reason") if k in step}
    return measure_step(kind, members, plan) | {"first_attempt": first}


def _latency_only(step: dict[str, Any]) -> bool:
    return bool(step.get("count")) and not (step.get("lost") or step["server_closes"])


def _line(kind: str, s: dict[str, Any]) -> str:
    if "p99_ms" not in s:
        return f"  {kind} {s['members']}: FAIL ({s.get('reason')})"
    verdict = "ok" if s["ok"] else f"FAIL ({s['reason']})"
    return (
        f"  {kind} {s['members']:>6}: p99 {s['p99_ms']:7.2f} ms over {s['measured_s']} s, "
        f"server {s['server_kb_per_conn']:5.1f} KiB/conn cpu {s['server_cpu']:4.0%} "
        f"({s['server_cpu_us_per_delivery']:.1f} us/delivery), generator "
        f"{s.get('generator_kb_per_user', float('nan')):5.1f} KiB/user cpu "
        f"{s['generator_cpu']:4.0%} {verdict}"
    )
