"""SLO gates: `--slo "p99<50ms"`, `--slo "lost==0"`, judged against results.json.

An SLO is METRIC OP NUMBER[UNIT]. Latency metrics (fan-out unless prefixed `rtt_`): p50, p90,
p99, p999, max, mean; they need a unit (us, ms, s). Counters: expected, delivered, lost,
duplicated, out_of_order, leaked, abrupt_disconnects, leave_missing, online_mismatches,
welcome_missing, and cpu_max (percent of one core). OP is one of < <= > >= == !=.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.errors import UsageError

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_UNITS_US = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}
_LATENCY = ("p50", "p90", "p99", "p999", "max", "mean")
_DELIVERIES = ("expected", "delivered", "lost", "duplicated", "out_of_order", "leaked")
_CLEANUP = ("abrupt_disconnects", "leave_missing", "online_mismatches", "welcome_missing")
_PATTERN = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=|==|!=|<|>)\s*([0-9.]+)\s*(us|ms|s)?\s*$")


@dataclass(frozen=True)
class Slo:
    """One parsed gate."""

    expr: str
    metric: str
    op: str
    threshold: float
    unit: str | None

    def observe(self, results: dict[str, Any]) -> float:
        """The metric's value in `results`, in the gate's unit."""
        name = self.metric
        if name.startswith("rtt_"):
            return float(results["rtt_latency_us"][name[4:]]) / _UNITS_US[self.unit or "us"]
        if name in _LATENCY:
            return float(results["fanout_latency_us"][name]) / _UNITS_US[self.unit or "us"]
        if name in _DELIVERIES:
            return float(results["deliveries"][name])
        if name in _CLEANUP:
            return float(results["cleanup"][name])
        return float(results["generator"]["cpu_max"])

    def judge(self, results: dict[str, Any]) -> dict[str, Any]:
        """The verdict (harness.results.SloVerdict form)."""
        value = self.observe(results)
        return {"expr": self.expr, "value": value, "ok": _OPS[self.op](value, self.threshold)}


def parse_slo(expr: str) -> Slo:
    """Parse one gate; UsageError on anything unknown."""
    match = _PATTERN.match(expr)
    if not match:
        raise UsageError(f"--slo {expr!r}: expected METRIC OP NUMBER[us|ms|s], like p99<50ms")
    metric, op, number, unit = match.groups()
    base = metric[4:] if metric.startswith("rtt_") else metric
    is_latency = base in _LATENCY
    known = is_latency or (metric == base and metric in (*_DELIVERIES, *_CLEANUP, "cpu_max"))
    if not known:
        raise UsageError(f"--slo {expr!r}: unknown metric {metric!r}")
    if is_latency and unit is None:
        raise UsageError(f"--slo {expr!r}: a latency needs a unit (us, ms or s)")
    if not is_latency and unit is not None:
        raise UsageError(f"--slo {expr!r}: {metric} is a count, it takes no unit")
    try:
        threshold = float(number)
    except ValueError:
        raise UsageError(f"--slo {expr!r}: {number!r} is not a number") from None
    return Slo(expr.strip(), metric, op, threshold, unit)


def judge_all(slos: list[Slo], results: dict[str, Any]) -> list[dict[str, Any]]:
    """Verdicts of every gate."""
    return [slo.judge(results) for slo in slos]
