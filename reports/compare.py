"""Compare two load runs: a delta table and a regression verdict.

NEW regresses against BASE when its fan-out p99 grew by more than the threshold (relative), or
when any problem counter (lost, duplicated, out of order, leaked, leave missing, online
mismatches, server closes, lost connections, protocol errors, unsent messages) grew at all.
Replayed history and reconnects are shown, not gated: a server may replay history by design.

The comparison fails outright when either run is broken (`harness.load.verdict`): a run that
delivered nothing has no p99 to compare and no counter that means anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.load.verdict import broken_reasons
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
    broken: list[str] = field(default_factory=list)
    """Why BASE or NEW cannot be compared ("NEW is broken: ...")."""

    @property
    def regressed(self) -> bool:
        """True when NEW is worse than BASE, or the runs cannot be compared."""
        return bool(self.reasons or self.broken)

    def verdict(self) -> str:
        """One line: FAIL for a broken run, REGRESSION with the reasons, or OK."""
        if self.broken:
            return "FAIL: " + "; ".join(self.broken + self.reasons)
        if self.regressed:
            return "REGRESSION: " + "; ".join(self.reasons)
        p99 = next(d for d in self.deltas if d.name == GATED_LATENCY)
        change = fmt.percent(p99.rel)
        return f"OK: p99 {change} (threshold {self.threshold_pct:g}%), no new delivery problems"


def compare(base: LoadResults, new: LoadResults, threshold_pct: float) -> Comparison:
    """Deltas of latency, deliveries and problem counters, and which of them regressed."""
    result = Comparison([], threshold_pct)
    for label, run in (("NEW", new), ("BASE", base)):
        result.broken += [f"{label} is broken: {reason}" for reason in _broken(run)]
    for name, label in fmt.LATENCY_FIELDS:
        b, n = getattr(base.fanout_latency_us, name), getattr(new.fanout_latency_us, name)
        delta = Delta(label, b, n, latency=True)
        if name == GATED_LATENCY and delta.rel is not None and delta.rel * 100 > threshold_pct:
            delta = Delta(label, b, n, latency=True, regressed=True)
            pct = fmt.percent(delta.rel)
            result.reasons.append(f"p99 {pct} (threshold {threshold_pct:g}%)")
        result.deltas.append(delta)
    for name in ("expected", "delivered", "replayed"):
        b, n = getattr(base.deliveries, name), getattr(new.deliveries, name)
        result.deltas.append(Delta(name, b, n))
    result.deltas.append(
        Delta("reconnects", base.connections.reconnects, new.connections.reconnects)
    )
    base_problems, new_problems = fmt.problems(base), fmt.problems(new)
    for name, b in base_problems.items():
        n = new_problems[name]
        result.deltas.append(Delta(name, b, n, regressed=n > b))
        if n > b:
            result.reasons.append(f"{name} {b} -> {n}")
    return result


def _broken(results: LoadResults) -> list[str]:
    """The run's recorded reasons, and those its counters show (older results have none)."""
    reasons = list(results.broken)
    return reasons + [r for r in broken_reasons(results) if r not in reasons]


def parse_threshold(text: str) -> float:
    """'10', '10%' or '2.5%' -> percent; raises ValueError on anything else."""
    value = float(text.strip().removesuffix("%"))
    if not value >= 0:  # also rejects NaN
        raise ValueError(text)
    return value
