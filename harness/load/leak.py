"""The leak verdict: server memory fitted against connections churned, after warm-up.

Pure code over results.json's `timeseries` (the client side: connections that ended each
second) and the server samples (`server.timeseries`). A server that keeps something for every
connection that ends grows by that much per ended connection; one that frees it wanders around
a level. So, over the samples from the end of the warm-up to the end of the drain:

    rss_bytes = a + b * churned(t)        (least squares)

where churned(t) is the count of connections that ended (abrupt drops of --churn, closes and
losses the server caused, connections failed for a protocol error) up to the sample's time.
`b` is the bytes retained per churned connection; the half-width of its 95% interval comes
from a Newey-West (heteroskedasticity and autocorrelation consistent) standard error over
LAG_S seconds of neighbours: memory moves in steps, so neighbouring samples are not
independent, and plain least squares would claim too much certainty.

`leak` when the whole interval lies above `FLOOR_BYTES` per connection, `none` when it lies
below, `unknown` with the reason otherwise (too little churn or too few samples, or an interval
that straddles the floor: run longer or churn more). The floor keeps allocator noise (heap
growth, fragmentation a correct server also shows) from reading as a leak; a real per-connection
leak (a socket object, its buffers) is well above it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

FLOOR_BYTES = 16384.0
"""Bytes per churned connection below which growth is not called a leak: a freshly started
reference server grows by 2 to 6 KiB per churned connection in its first seconds of churn."""
WARMUP_S = 2.0
WARMUP_SHARE = 0.25
"""The warm-up: the spawn ramp, then WARMUP_S or this share of the send phase, the longer."""
MIN_SAMPLES = 5
LAG_S = 2.0
"""Residuals this close in time are taken as correlated (the Newey-West window)."""
MIN_CHURNED = 20
CHURN_KEYS = ("abrupt_disconnects", "server_closes", "connections_lost", "protocol_errors")
"""Timeseries counts of connections that ended mid-run."""

Row = dict[str, Any]


def window(doc: dict[str, Any]) -> tuple[float, float]:
    """(start, end) of the measurement on the timeseries clock: warm-up over, drain done."""
    cfg = doc.get("config", {})
    duration = float(cfg.get("duration_s", 0) or 0)
    users, spawn = float(cfg.get("users", 0) or 0), float(cfg.get("spawn_rate", 0) or 0)
    ramp = users / spawn if spawn > 0 else 0.0
    start = ramp + max(WARMUP_S, WARMUP_SHARE * duration)
    return start, duration + float(cfg.get("drain_s", 0) or 0)


def churned_at(rows: Sequence[Row], t: float) -> float:
    """Connections ended before time `t` (a second's count spread evenly over it)."""
    total = 0.0
    for row in rows:
        start = float(row["t"])
        if start >= t:
            break
        n = sum(int(row.get(k, 0) or 0) for k in CHURN_KEYS)
        total += n * min(1.0, t - start)
    return total


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile (Cornish-Fisher expansion; within 0.5% for df >= 3)."""
    z = NormalDist().inv_cdf(p)
    z3, z5, z7 = z**3, z**5, z**7
    return (
        z
        + (z3 + z) / (4 * df)
        + (5 * z5 + 16 * z3 + 3 * z) / (96 * df**2)
        + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df**3)
    )


def fit(xs: Sequence[float], ys: Sequence[float], lags: int = 2) -> tuple[float, float]:
    """Least-squares slope of ys on xs and the half-width of its 95% interval (Newey-West
    standard error, Bartlett weights over `lags` neighbours). Needs 3 points, xs that vary."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    dx = [x - mx for x in xs]
    sxx = sum(d * d for d in dx)
    slope = sum(d * (y - my) for d, y in zip(dx, ys, strict=True)) / sxx
    scores = [d * (y - my - slope * d) for d, y in zip(dx, ys, strict=True)]
    var = sum(u * u for u in scores)
    for lag in range(1, min(lags, n - 1) + 1):
        weight = 1 - lag / (lags + 1)
        var += 2 * weight * sum(a * b for a, b in zip(scores[lag:], scores, strict=False))
    if n <= 2:
        return slope, math.inf
    se = math.sqrt(max(var, 0.0) * n / (n - 2)) / sxx
    return slope, t_quantile(0.975, n - 2) * se


def lags_for(series: Sequence[Row]) -> int:
    """How many neighbours lie within LAG_S seconds at the series' spacing (at least 2)."""
    ts = sorted(float(s["t"]) for s in series)
    steps = sorted(b - a for a, b in itertools.pairwise(ts) if b > a)
    return max(2, round(LAG_S / steps[len(steps) // 2])) if steps else 2


def verdict(
    series: Sequence[Row],
    rows: Sequence[Row],
    span: tuple[float, float],
    baseline_fds: int | None,
) -> dict[str, Any]:
    """results.json's `server.leak` (harness.results.LeakVerdict)."""
    start, end = span
    after = _fds_after(series, end)
    fd_growth = None if after is None or baseline_fds is None else max(0, after - baseline_fds)
    points = [
        (churned_at(rows, float(s["t"])), float(s["rss_bytes"]))
        for s in series
        if start <= float(s["t"]) <= end and s.get("rss_bytes") is not None
    ]
    churned = round(churned_at(rows, end) - churned_at(rows, start))
    base = {"churned_connections": max(0, churned), "fd_growth": fd_growth}
    base |= {"fds_before": baseline_fds, "fds_after": after}
    why = _unknown_why(series, points, churned, span)
    if why:
        return {"verdict": "unknown", "reason": why, **base}
    slope, half = fit([x for x, _ in points], [y for _, y in points], lags_for(series))
    result = {**base, "bytes_per_churned_conn": round(slope, 1), "ci95_bytes": round(half, 1)}
    return {**result, **_judge(slope, half)}


def _unknown_why(
    series: Sequence[Row],
    points: list[tuple[float, float]],
    churned: int,
    span: tuple[float, float],
) -> str:
    if not any(s.get("rss_bytes") is not None for s in series):
        return "no memory figure (no --server-pid, and no process_resident_memory_bytes scraped)"
    if churned < MIN_CHURNED:
        return (
            f"{churned} connections ended after the warm-up (t={span[0]:g}s to {span[1]:g}s); "
            f"a fit needs {MIN_CHURNED}: use --churn (and a longer --duration)"
        )
    if len(points) < MIN_SAMPLES:
        return (
            f"{len(points)} memory samples after the warm-up (t={span[0]:g}s to {span[1]:g}s); "
            f"a fit needs {MIN_SAMPLES}: run longer"
        )
    if len({round(x, 6) for x, _ in points}) < 3:
        return "the churn after the warm-up fell between too few samples to fit"
    return ""


def _judge(slope: float, half: float) -> dict[str, str]:
    shown = f"{slope:,.0f} ± {half:,.0f} bytes per churned connection"
    if slope - half > FLOOR_BYTES:
        return {"verdict": "leak", "reason": f"{shown}, all above the {FLOOR_BYTES:,.0f} floor"}
    if slope + half < FLOOR_BYTES:
        return {"verdict": "none", "reason": f"{shown}, all below the {FLOOR_BYTES:,.0f} floor"}
    return {
        "verdict": "unknown",
        "reason": f"inconclusive: {shown} straddles the {FLOOR_BYTES:,.0f} floor; "
        "run longer or churn more",
    }


def _fds_after(series: Sequence[Row], end: float) -> int | None:
    """Descriptors after the run (the last sample, past the drain); None if unknown."""
    if not series:
        return None
    last = series[-1]
    if last.get("fds") is None or float(last["t"]) < end:
        return None  # the server stopped answering before the run was over
    return int(last["fds"])
