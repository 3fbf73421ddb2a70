"""PNG charts for docs/benchmarks.md (matplotlib, headless)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

from bench import scale_report


def per_rate(steps: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """One point per offered rate: the lower p99 of a step and its confirmation run."""
    best: dict[float, float] = {}
    for s in steps:
        best[s["offered"]] = min(best.get(s["offered"], math.inf), max(s["p99_ms"], 0.01))
    rates = sorted(best)
    return rates, [best[r] for r in rates]


def _p99_curves(ax: Any, searches: dict[str, Any], limit: float) -> None:
    for label, res in searches.items():
        xs, ys = per_rate(res.get("steps", []))
        if xs:
            ax.plot(xs, ys, marker="o", label=f"{label} ({res.get('capacity', 0):,.0f}/s)")
    ax.axhline(limit, color="grey", linestyle="--", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("offered deliveries/s")
    ax.set_ylabel("p99 fan-out latency (ms)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()


def fanout(part: dict[str, Any], path: Path, title: str, key: str = "servers") -> None:
    """p99 against offered deliveries/s, one curve per server or setup."""
    fig, ax = plt.subplots(figsize=(7, 4))
    _p99_curves(ax, part.get(key, {}), float(part.get("config", {}).get("limit_ms", 50)))
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def slow(part: dict[str, Any], path: Path) -> None:
    """p99 without and with the stalled member, per server; stalls drawn at the top."""
    servers = {k: v for k, v in part.get("servers", {}).items() if "error" not in v}
    fig, ax = plt.subplots(figsize=(7, 4))
    finite = [
        s[w]["p99_ms"] for s in servers.values() for w in ("base", "stalled") if s[w]["p99_ms"]
    ]
    top = max(finite, default=1.0) * 4
    for i, res in enumerate(servers.values()):
        for j, which in enumerate(("base", "stalled")):
            step = res[which]
            stalled = step["lost"] > 0.01 * max(1, step["expected"])
            height = top if stalled else step["p99_ms"]
            bar = ax.bar(i + 0.4 * j, height, width=0.38, color=("C0", "C3")[j])
            if stalled:
                ax.bar_label(bar, labels=["stalled"])
    ax.set_xticks([i + 0.2 for i in range(len(servers))], list(servers))
    ax.set_ylabel("p99 of the other members (ms)")
    ax.set_yscale("log")
    ax.legend(
        handles=[Rectangle((0, 0), 1, 1, color=c) for c in ("C0", "C3")],
        labels=["all reading", "one member stalled"],
    )
    ax.set_title("Slow consumer in a 50-member room")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def generator(part: dict[str, Any], path: Path) -> None:
    """(a) reported p99 of both generators; (b) p99 against offered load."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    cmp_ = part.get("compare", {})
    labels = [("chatbench load", "ours"), ("naive Locust", "naive")]
    values = [cmp_.get(k, {}).get("p99_ms", math.nan) for _, k in labels]
    a.bar([lbl for lbl, _ in labels], values, color=["C0", "C1"])
    a.set_ylabel("reported p99 (ms)")
    a.set_title(f"Same load ({part.get('config', {}).get('compare_rate', 0):,.0f} deliveries/s)")
    xs, ys = per_rate(part.get("capacity", {}).get("steps", []))
    b.plot(xs, ys, marker="o")
    b.set_yscale("log")
    b.axhline(float(part.get("config", {}).get("limit_ms", 20)), color="grey", linestyle="--")
    b.set_xlabel("offered deliveries/s")
    b.set_ylabel("reported p99 (ms)")
    b.set_title("One chatbench load process")
    b.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw_all(results: dict[str, Any], folder: Path, rel: str) -> dict[str, str]:
    """Draw every chart whose part ran; links relative to the markdown file."""
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}
    jobs: dict[str, Callable[[dict[str, Any], Path], None]] = {
        "fanout": lambda p, f: fanout(p, f, "Server fan-out: p99 against offered load"),
        "slow": slow,
        "generator": generator,
        "scaleout": lambda p, f: fanout(p, f, "Scale-out", key="setups"),
        "scale": scale_report.chart,
    }
    for key, draw in jobs.items():
        if key in results and "error" not in results[key]:
            draw(results[key], folder / f"{key}.png")
            made[key] = f"{rel}/{key}.png"
    return made
