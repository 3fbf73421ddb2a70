"""Part 5 in docs/benchmarks.md: the table per server, its ratios and its chart."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

RATIO_STEP = "10000"
"""`conn_p99_ms_10k` is the reference server's p99 at this step (in both modes)."""


def rows(part: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(server kind, step) for every step of every server, in step order."""
    out = []
    for _, by_kind in sorted(part.get("steps", {}).items(), key=lambda kv: int(kv[0])):
        out += list(by_kind.items())
    return out


def measured(part: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The steps of `kind` that measured something, in step order."""
    return [s for k, s in rows(part) if k == kind and "p99_ms" in s]


def ratios(part: dict[str, Any]) -> dict[str, float]:
    """conn_p99_ms_10k (reference server, 10k members), and the memory per connection of the
    reference server and of the generator at the largest step measured (nan: not run)."""
    nan = float("nan")
    ref = measured(part, "reference")
    at_10k = part.get("steps", {}).get(RATIO_STEP, {}).get("reference")
    top = ref[-1] if ref else {}
    # a 10k step that ran and measured nothing (members never all connected) is not met
    p99 = nan if at_10k is None else float(at_10k.get("p99_ms", math.inf))
    return {
        "conn_p99_ms_10k": p99,
        "server_kb_per_conn": float(top.get("server_kb_per_conn", nan)),
        "generator_kb_per_user": float(top.get("generator_kb_per_user", nan)),
    }


def _n(value: Any, digits: int = 1, unit: str = "") -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}{unit}"


def _row(kind: str, s: dict[str, Any]) -> str:
    if "p99_ms" not in s:
        why = s.get("skipped") or s.get("error") or s.get("reason", "")
        return f"| {kind} | {s['members']:,} | {why} |" + " |" * 11
    verdict = "ok" if s["ok"] else s["reason"]
    if "first_attempt" in s:
        verdict += f" (second attempt; the first: p99 {_n(s['first_attempt'].get('p99_ms'), 1)} ms)"
    return (
        f"| {kind} | {s['members']:,} | {s['measured_s']} s | {_n(s['delivered_per_s'], 0)} "
        f"| {_n(s['p50_ms'], 2)} | {_n(s['p99_ms'], 2)} | {_n(s['max_ms'], 1)} "
        f"| {_n(s['server_kb_per_conn'])} | {_n(100 * s['server_cpu'], 0, '%')} "
        f"| {_n(s['server_cpu_us_per_delivery'])} | {_n(s.get('generator_kb_per_user'))} "
        f"| {_n(100 * s['generator_cpu'], 0, '%')} | {_busy(s)} | {verdict} |"
    )


def _busy(s: dict[str, Any]) -> str:
    """The machine's busy share, and the softirq part of it in cores (older runs: -)."""
    if "machine_busy" not in s:
        return "-"
    return f"{_n(100 * s['machine_busy'], 0, '%')} ({_n(s['softirq_cpu'], 2)} softirq)"


def section(part: dict[str, Any], charts: dict[str, str]) -> list[str]:
    """Part 5's markdown."""
    cfg = part.get("config", {})
    lines = [
        "## 5. Connection scale",
        "",
        f"Rooms of {cfg.get('room')}, one message per member every {1 / cfg.get('rate', 0.1):g} s"
        f" (deliveries/s = members x {cfg.get('room')} / 10); a fresh server and one "
        "`chatbench load` process (one Locust process) per step, the servers interleaved step "
        f"by step. Measured for {cfg.get('measure')} s or more, starting {cfg.get('settle')} s "
        "after every member was connected: the spawn ramp is not in the numbers. Server KiB per "
        "connection = (server RSS at its peak in that window - its RSS after one warm-up "
        "member) / members; generator KiB per user = (Locust process RSS - its RSS with one "
        f"room of 20: {_n(part.get('generator_base_rss', math.nan) / 2**20, 0)} MiB) / "
        f"(members - 20). CPU in shares of one core. Descriptor limit of the processes: "
        f"{part.get('nofile', '?')}. Machine busy: the share of all {part.get('cores', '?')} cores "
        "not idle in the window, and the kernel's softirq work in it in cores (loopback "
        "network delivery, charged to whichever process it interrupted). "
        f"A step passes with p99 <= {cfg.get('limit_ms')} ms and "
        f"nothing lost or closed; the memory target is <= {cfg.get('kb_limit')} KiB per "
        "connection in each process. A step that fails on latency alone is measured once more "
        "on a fresh server and fails only if it fails again (as part 1's steps); the row is "
        "the second attempt and says the first's p99.",
        "",
        "| server | members | measured | deliveries/s | p50 ms | p99 ms | max ms | server KiB "
        "/conn | server CPU | server us/delivery | generator KiB/user | generator CPU "
        "| machine busy | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [_row(kind, step) for kind, step in rows(part)]
    ref = measured(part, "reference")
    if ref:
        lines += [
            "",
            f"`server_kb_per_conn` and `generator_kb_per_user` are the reference server's run at "
            f"the largest step that measured anything ({ref[-1]['members']:,} members); "
            "`conn_p99_ms_10k` its p99 at 10,000 members (inf: the step ran and measured nothing).",
        ]
    if "error" in part:
        lines += ["", f"Error: {part['error']}"]
    if "scale" in charts:
        lines += ["", f"![connection scale]({charts['scale']})"]
    return lines


def chart(part: dict[str, Any], path: Path) -> None:
    """p99, memory per connection and CPU against members."""
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13, 4))
    for kind in ("reference", "broadcast"):
        steps = measured(part, kind)
        xs = [s["members"] for s in steps]
        a.plot(xs, [max(s["p99_ms"], 0.01) for s in steps], marker="o", label=kind)
        b.plot(xs, [s["server_kb_per_conn"] for s in steps], marker="o", label=f"{kind} server")
        c.plot(xs, [100 * s["server_cpu"] for s in steps], marker="o", label=f"{kind} server")
    gen = measured(part, "reference")
    gxs = [s["members"] for s in gen]
    b.plot(
        gxs, [s.get("generator_kb_per_user", math.nan) for s in gen], marker="s", label="generator"
    )
    c.plot(gxs, [100 * s["generator_cpu"] for s in gen], marker="s", label="generator")
    a.axhline(float(part.get("config", {}).get("limit_ms", 20)), color="grey", linestyle="--")
    b.axhline(float(part.get("config", {}).get("kb_limit", 20)), color="grey", linestyle="--")
    a.set_yscale("log")
    for ax, label in ((a, "p99 fan-out (ms)"), (b, "KiB per connection"), (c, "CPU (% of a core)")):
        ax.set_xlabel("members")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle("Connection scale: rooms of 20, one message per member every 10 s")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
