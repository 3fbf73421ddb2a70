"""docs/benchmarks.md from a run's results: machine info, ratios vs targets, tables, charts.

The "Optimisations" section is hand-written: the text between OPT_START and OPT_END in the
existing docs/benchmarks.md is carried over into every regenerated file.
"""

from __future__ import annotations

import math
import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import background, fanout, scale_report
from bench.procs import ROOT, cpu_count
from bench.search import first_failure, limit_of

DOC = ROOT / "docs" / "benchmarks.md"
OPT_START = "<!-- optimisations:start (hand-written, kept by bench/run.py) -->"
OPT_END = "<!-- optimisations:end -->"
PACKAGES: tuple[str, ...] = ("websockets", "uvicorn", "fastapi", "starlette", "uvloop")
PACKAGES += ("httptools", "orjson", "locust", "gevent", "hdrhistogram", "redis", "psutil")

TARGETS = {
    "server_vs_seed": (">=", 1.3),
    "server_vs_broadcast": (">=", 0.8),
    "slow_consumer_p99_ratio": ("<=", 2.0),
    "generator_p99_vs_naive": (">=", 5.0),
    "generator_capacity": (">=", 30000.0),
    "cpu_vs_seed": ("<=", round(1 / 1.3, 2)),
    "cpu_vs_broadcast": ("<=", round(1 / 0.8, 2)),
    "conn_p99_ms_10k": ("<=", 20.0),
    "server_kb_per_conn": ("<=", 20.0),
    "generator_kb_per_user": ("<=", 20.0),
}
DIGITS = {"generator_capacity": 0, "server_kb_per_conn": 1, "generator_kb_per_user": 1}


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python and package versions."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        model = found.group(1).strip() if found else ""
    import psutil

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    redis = shutil.which("redis-server")
    if redis:
        out = subprocess.run([redis, "--version"], capture_output=True, text=True, check=False)
        found = re.search(r"v=(\S+)", out.stdout)
        versions["redis-server"] = found.group(1) if found else "?"
    return {
        "cpu": model or platform.processor(),
        "cores": cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": versions,
    }


def ratios(results: dict[str, Any]) -> dict[str, float]:
    """The headline numbers (nan when their part did not run)."""
    nan = float("nan")
    servers = results.get("fanout", {}).get("servers", {})
    cap = {k: v.get("capacity", 0.0) for k, v in servers.items()}
    ref = cap.get("reference", 0.0)
    slow = results.get("slow", {}).get("servers", {}).get("reference", {})
    gen = results.get("generator", {})
    return {
        "server_vs_seed": ref / cap["seed"] if ref and cap.get("seed") else nan,
        "server_vs_broadcast": ref / cap["broadcast"] if ref and cap.get("broadcast") else nan,
        "slow_consumer_p99_ratio": slow.get("ratio", nan),
        "generator_p99_vs_naive": gen.get("compare", {}).get("ratio", nan),
        "generator_capacity": gen.get("capacity", {}).get("capacity", nan),
        **_cpu_ratios(servers),
        **scale_report.ratios(results.get("scale", {})),
    }


def _cpu_ratios(servers: dict[str, Any]) -> dict[str, float]:
    """The reference server's CPU per delivery over each baseline's, at the same load."""
    _, us = fanout.common_cpu(servers)
    ref = us.get("reference")
    return {
        f"cpu_vs_{kind}": ref / us[kind] if ref and us.get(kind) else float("nan")
        for kind in ("seed", "broadcast")
    }


def summary_line(r: dict[str, float]) -> str:
    """The last line `bench/run.py --quick` prints."""
    parts = []
    for key, value in r.items():
        shown = f"{value:.{DIGITS.get(key, 2)}f}" if math.isfinite(value) else f"{value}"
        parts.append(f"{key}={shown}")
    return " ".join(parts)


def meets(key: str, value: float) -> str:
    op, target = TARGETS[key]
    if math.isnan(value):
        return "not measured"  # its part did not run, or measured no capacity to divide by
    ok = value >= target if op == ">=" else value <= target
    return "yes" if ok else "**no**"


def _num(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "stalled (inf)"
    return f"{value:,.{digits}f}{unit}"


def hand_written(doc: Path) -> str:
    """The Optimisations text kept from the current docs/benchmarks.md (or a stub)."""
    if doc.exists():
        text = doc.read_text()
        if OPT_START in text and OPT_END in text:
            return text.split(OPT_START, 1)[1].split(OPT_END, 1)[0].strip("\n")
    return "(none recorded yet)"


def fanout_section(part: dict[str, Any], charts: dict[str, str]) -> list[str]:
    """Part 1 tables."""
    cfg = part.get("config", {})
    lines = [
        "## 1. Server fan-out",
        "",
        f"{cfg.get('rooms')} rooms of {cfg.get('members')} members, {cfg.get('payload')}-character"
        f" messages, {cfg.get('drivers')} driver processes; each step offers a rate for "
        f"{cfg.get('warmup')} s warm-up + {cfg.get('duration')} s measured; a step passes with "
        f"p99 <= {cfg.get('limit_ms')} ms, nothing lost, >= 95% of the offered rate delivered and "
        "no saturated driver; a failing step is measured once more and counts only if it fails "
        "again. The servers are searched in turn step by step (each rate of the ramp on every "
        "server before the next rate; each bisection round likewise), so a busy moment of the "
        "machine falls on all of them. Capacity = deliveries/s of the best passing step. Server "
        "CPU per delivery (CPU seconds / deliveries at that step) is the steadiest number on a "
        "busy machine.",
        "",
        "| server | capacity (deliveries/s) | p99 at capacity | server CPU | server CPU per "
        "delivery | drivers CPU | first failure | limited by |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for kind, res in part.get("servers", {}).items():
        lines.append(_search_row(kind, res))
    rate, us = fanout.common_cpu(part.get("servers", {}))
    if us:
        shown = ", ".join(f"{kind} {value:.1f} us" for kind, value in us.items())
        lines += [
            "",
            f"Server CPU per delivery at {rate:,.0f} deliveries/s, the highest offered rate every "
            f"server passed (same load on each; part of the verdict: `cpu_vs_seed`, "
            f"`cpu_vs_broadcast`): {shown}.",
        ]
    if "fanout" in charts:
        lines += ["", f"![p99 against offered load]({charts['fanout']})"]
    lines += ["", *_steps_details(part.get("servers", {}))]
    return lines


def _search_row(label: str, res: dict[str, Any]) -> str:
    if "error" in res:
        return f"| {label} | error: {res['error'][:120]} | | | | | | |"
    best = res.get("best") or {}
    failure = first_failure(res.get("steps", []))
    first = failure["reason"] if failure else "none"
    limited = limit_of(failure) if failure else "not reached"
    per = 1e6 * best["server_cpu"] / best["achieved"] if best.get("achieved") else None
    return (
        f"| {label} | {_num(res['capacity'], digits=0)} | {_num(best.get('p99_ms'), ' ms', 2)} "
        f"| {_num(100 * best.get('server_cpu', 0), '%', 0)} | {_num(per, ' us', 1)} "
        f"| {_num(100 * best.get('drivers_cpu_total', 0), '%', 0)} | {first} "
        f"| {limited} |"
    )


def _steps_details(searches: dict[str, Any]) -> list[str]:
    lines = ["<details><summary>every step</summary>", ""]
    lines += ["| run | offered/s | achieved/s | p50 ms | p99 ms | max ms | server CPU "]
    lines[-1] += "| drivers CPU | machine busy | waited for a CPU (server / driver) "
    lines[-1] += "| send lag p99 ms | verdict |"
    lines += ["|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for label, res in searches.items():
        for s in res.get("steps", []):
            verdict = "ok" if s["ok"] else s["reason"]
            lines.append(
                f"| {label} | {s['offered']:,.0f} | {s['achieved']:,.0f} | {s['p50_ms']:.2f} "
                f"| {s['p99_ms']:.2f} | {s['max_ms']:.1f} | {100 * s['server_cpu']:.0f}% "
                f"| {100 * s['drivers_cpu_total']:.0f}% | {100 * s.get('machine_busy', 0):.0f}% "
                f"| {_waits(s)} | {s['lag_p99_ms']:.2f} | {verdict} |"
            )
    return [*lines, "", "</details>"]


def _waits(step: dict[str, Any]) -> str:
    """Share of the step the server and the busiest driver spent waiting for a CPU."""
    server, driver = step.get("server_wait"), step.get("driver_wait")
    if server is None or driver is None:
        return "-"
    return f"{100 * server:.0f}% / {100 * driver:.0f}%"


def slow_section(part: dict[str, Any], charts: dict[str, str]) -> list[str]:
    """Part 2 table."""
    cfg = part.get("config", {})
    lines = [
        "## 2. Slow consumer",
        "",
        f"One room of {cfg.get('members')} reading members + 1 member that completed the "
        "handshake and never reads (4 KiB receive buffer); each reader sends "
        f"{cfg.get('per_member_rate')} msgs/s of {cfg.get('payload')} characters. p99 of the "
        "readers with the stalled member, relative to the same run without it. Lost deliveries "
        "count as infinitely late (a stalled room is `inf`).",
        "",
        "| server | p99 without | p99 with stalled member | lost with it | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, res in part.get("servers", {}).items():
        if "error" in res:
            lines.append(f"| {kind} | error: {res['error'][:120]} | | | |")
            continue
        base, slow = res["base"], res["stalled"]
        lines.append(
            f"| {kind} | {_num(base['p99_ms'], ' ms', 2)} | {_p99_losses(slow)} "
            f"| {slow['lost']:,}/{slow['expected']:,} | {_num(res['ratio'], '', 2)} |"
        )
    if "slow" in charts:
        lines += ["", f"![slow consumer]({charts['slow']})"]
    return lines


def _p99_losses(step: dict[str, Any]) -> str:
    if step["lost"] > 0.01 * max(1, step["expected"]):
        return "stalled (inf)"
    return _num(step["p99_ms"], " ms", 2)


def generator_section(part: dict[str, Any], charts: dict[str, str]) -> list[str]:
    """Part 3 tables."""
    cfg, cmp_, cap = part.get("config", {}), part.get("compare", {}), part.get("capacity", {})
    lines = [
        "## 3. Load generator",
        "",
        f"Against the broadcast baseline server; {cfg.get('users')} users in "
        f"{cfg.get('rooms')} rooms, random send phases, {cfg.get('payload')}-character messages, "
        f"{cfg.get('duration')} s per run, one generator process.",
        "",
        f"### (a) Reported p99 at {_num(cfg.get('compare_rate'), digits=0)} deliveries/s",
        "",
        "| generator | deliveries/s | p50 | p99 |",
        "|---|---:|---:|---:|",
    ]
    for label, key in (("chatbench load", "ours"), ("naive Locust user", "naive")):
        r = cmp_.get(key)
        if r:
            lines.append(
                f"| {label} | {r['achieved']:,.0f} | {_num(r['p50_ms'], ' ms', 2)} "
                f"| {_num(r['p99_ms'], ' ms', 2)} |"
            )
    lines += ["", f"naive p99 / chatbench p99 = **{_num(cmp_.get('ratio'), '', 2)}**", ""]
    lines += [
        f"### (b) Capacity: p99 <= {cfg.get('limit_ms')} ms, no saturation warning",
        "",
        "| offered/s | delivered/s | p99 | generator CPU max | saturated | ok |",
        "|---:|---:|---:|---:|---|---|",
    ]
    for s in cap.get("steps", []):
        lines.append(
            f"| {s['offered']:,.0f} | {s['achieved']:,.0f} | {s['p99_ms']:.2f} ms "
            f"| {s['cpu_max_pct']:.0f}% | {s['saturated']} | {'yes' if s['ok'] else 'no'} |"
        )
    lines += [
        "",
        f"Capacity: **{_at_least(cap, cfg)}{_num(cap.get('capacity'), ' deliveries/s', 0)}** "
        "per process (the "
        "highest offered rate with every delivery made, p99 within the limit and no saturation "
        "warning; delivered/s is over the whole run, spawn ramp included).",
    ]
    if "error" in part:
        lines += ["", f"Error: {part['error']}"]
    if "generator" in charts:
        lines += ["", f"![generator]({charts['generator']})"]
    return lines


def _at_least(cap: dict[str, Any], cfg: dict[str, Any]) -> str:
    """'at least ' when every step of the ramp passed (the real capacity is higher)."""
    ramp = cfg.get("ramp") or [0]
    return "at least " if cap.get("capacity", 0) >= max(ramp) else ""


def scaleout_section(part: dict[str, Any]) -> list[str]:
    """Part 4 table."""
    lines = [
        "## 4. Scale-out",
        "",
        "The reference server as one process, and as two processes sharing a redis-server "
        "(members of every room spread over both), same search as part 1. On this 2-core "
        "machine one server process can use one core at most, while two processes, redis and "
        "the drivers share both: the ratio is what a second process buys on the same box, "
        "Redis hop included, not what a second machine would add.",
        "",
        "| setup | capacity (deliveries/s) | p99 at capacity | server CPU | server CPU per "
        "delivery | drivers CPU | first failure | limited by |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for label, res in part.get("setups", {}).items():
        lines.append(_search_row(label, res))
    lines += ["", f"two processes / one process = **{_num(part.get('ratio'), '', 2)}**", ""]
    return [*lines, *_steps_details(part.get("setups", {}))]


def render(results: dict[str, Any], charts: dict[str, str], optimisations: str) -> str:
    """The whole markdown document."""
    m, r = results["machine"], ratios(results)
    lines = [
        "# chatbench benchmarks",
        "",
        f"Generated by `{results['command']}` on {results['started']} "
        f"({results['mode']} run, {results['elapsed_s'] / 60:.1f} min). Absolute numbers drift "
        "between runs and machines; the ratios are the result.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}, "
        f"Python {m['python']}.  ",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
        "",
        "| ratio | value | target | met |",
        "|---|---:|---:|---|",
    ]
    for key, value in r.items():
        op, target = TARGETS[key]
        shown = "inf" if math.isinf(value) else _num(value, "", DIGITS.get(key, 2))
        lines.append(f"| `{key}` | {shown} | {op} {target:g} | {meets(key, value)} |")
    lines += ["", "```", summary_line(r), "```", ""]
    warned = [f"- **Warning:** {w}." for w in background.warnings(results)]
    lines += [*warned, ""] if warned else []
    sections = (
        ("fanout", lambda p: fanout_section(p, charts)),
        ("slow", lambda p: slow_section(p, charts)),
        ("generator", lambda p: generator_section(p, charts)),
        ("scaleout", scaleout_section),
        ("scale", lambda p: scale_report.section(p, charts)),
    )
    for key, build in sections:
        if key in results:
            lines += [*build(results[key]), ""]
    lines += [*METHOD, "", "## Optimisations", "", OPT_START, optimisations, OPT_END, ""]
    return "\n".join(lines)


METHOD = [
    "## Method",
    "",
    "- Servers run as their own processes on 127.0.0.1; `bench/driver.py` processes hold the "
    "chat members: websockets' sans-I/O protocol on raw asyncio (uvloop) transports, no task "
    "per frame. Members send open-loop, each on its own schedule with a random phase; a late "
    "send goes out at once (send lag is recorded), the driver never waits for the server.",
    "- Two driver processes by default (`--drivers`): with one, the broadcast baseline's "
    "search stopped at the driver (89-98% of a core at 77,000-115,000 deliveries/s) before "
    "the server; rooms are shared out between them, histograms merged.",
    "- Every message text is a probe token (`harness.protocol.probe`) carrying sender, sequence "
    "and `time.time_ns()` at send; fan-out latency = receive time - send time, recorded per "
    "delivery in an HdrHistogram (1 us - 120 s, 3 digits); drivers' histograms are merged. "
    "The ledger counts the deliveries each message owes (the room size, sender included).",
    "- Driver CPU is its own `process_time` over the measured seconds; server CPU is sampled "
    "with psutil over the same seconds, and so is the whole machine's busy share. `limited "
    "by: machine` means over 85% of all cores were busy at the first failing step: on 2 "
    "cores the box, not one program, is the ceiling (every server gets the same drivers, so "
    "the comparison holds). 'Waited for a CPU' is the seconds per second the server's "
    "threads and the busiest driver spent runnable on a run queue (/proc schedstat): a "
    "server that waits there is short of a core, not slow. Send lag (how late the driver's "
    "sends left) is reported, not judged: the probe carries the actual send time.",
    "- Before each search (and before parts 2 and 3) the run samples the machine for a second "
    "with none of its processes running; over 25% of all cores busy means other work shares "
    "the box, and the run and this page say which numbers it touched.",
    "- Part 3 runs `chatbench load` and `locust` as a user would and reads results.json and "
    "Locust's CSV (percentiles in ms as Locust rounds them).",
]
