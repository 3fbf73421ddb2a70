"""Compare two load runs: a delta table and a regression verdict.

NEW regresses against BASE when its fan-out p99 grew by more than the threshold (relative), or
when any correctness counter (lost, duplicated, out of order, leaked, leave missing, online
mismatches) grew at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.results import LoadResults
from reports import fmt

DEFAULT_THRESHOLD_PCT = 10.0
GATED_LATENCY = "p99"


@dataclass(frozen=True)
class Delta:
    """One metric of both runs; `rel` is None when BASE is zero."""

    name: str
    base: float
    new: float
    latency: bool = False
    regressed: bool = False

    @property
    def abs(self) -> float:
        """NEW minus BASE."""
        return self.new - self.base

    @property
    def rel(self) -> float | None:
        """(NEW - BASE) / BASE."""
        return None if self.base == 0 else self.abs / self.base

    def cells(self) -> list[str]:
        """Name, BASE, NEW, absolute and relative change, formatted for a table."""
        if self.latency:
            sign = "+" if self.abs >= 0 else "-"
            change = sign + fmt.ms(abs(self.abs))
            return [self.name, fmt.ms(self.base), fmt.ms(self.new), change, fmt.percent(self.rel)]
        base, new = fmt.count(self.base), fmt.count(self.new)
        return [self.name, base, new, fmt.signed(self.abs), fmt.percent(self.rel)]


@dataclass
class Comparison:
    """The deltas and the verdict of NEW against BASE."""

    deltas: list[Delta]
    threshold_pct: float
    reasons: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        """True when NEW is worse than BASE."""
        return bool(self.reasons)

    def verdict(self) -> str:
        """One line: REGRESSION with the reasons, or OK with the p99 change."""
        if self.regressed:
            return "REGRESSION: " + "; ".join(self.reasons)
        p99 = next(d for d in self.deltas if d.name == GATED_LATENCY)
        change = fmt.percent(p99.rel)
        return f"OK: p99 {change} (threshold {self.threshold_pct:g}%), no new delivery problems"


def compare(base: LoadResults, new: LoadResults, threshold_pct: float) -> Comparison:
    """Deltas of latency, deliveries and problem counters, and which of them regressed."""
    result = Comparison([], threshold_pct)
    for name, label in fmt.LATENCY_FIELDS:
        b, n = getattr(base.fanout_latency_us, name), getattr(new.fanout_latency_us, name)
        delta = Delta(label, b, n, latency=True)
        if name == GATED_LATENCY and delta.rel is not None and delta.rel * 100 > threshold_pct:
            delta = Delta(label, b, n, latency=True, regressed=True)
            pct = fmt.percent(delta.rel)
            result.reasons.append(f"p99 {pct} (threshold {threshold_pct:g}%)")
        result.deltas.append(delta)
    for name in ("expected", "delivered"):
        b, n = getattr(base.deliveries, name), getattr(new.deliveries, name)
        result.deltas.append(Delta(name, b, n))
    base_problems, new_problems = fmt.problems(base), fmt.problems(new)
    for name, b in base_problems.items():
        n = new_problems[name]
        result.deltas.append(Delta(name, b, n, regressed=n > b))
        if n > b:
            result.reasons.append(f"{name} {b} -> {n}")
    return result


def parse_threshold(text: str) -> float:
    """'10', '10%' or '2.5%' -> percent; raises ValueError on anything else."""
    value = float(text.strip().removesuffix("%"))
    if not value >= 0:  # also rejects NaN
        raise ValueError(text)
    return value
