"""Compare two load runs: a delta table and a regression verdict.

NEW regresses against BASE when its fan-out p99 grew by more than the threshold (relative), or
when any problem counter (lost, duplicated, out of order, leaked, leave missing, online
mismatches, server closes, lost connections, protocol errors, unsent messages) grew at all.
Replayed history and reconnects are shown, not gated: a server may replay history by design.
So are connect latency, reconnect-storm recovery and the server's CPU, memory and bytes per
churned connection (machines differ); a leak verdict of "leak" in NEW where BASE had none is a
regression. Runs of different shapes (users, rooms, rate, duration, churn, profile) get a
warning (`reports.shape`): their totals are not comparable.

The comparison fails outright when either run is broken (`harness.load.verdict`): a run that
delivered nothing has no p99 to compare and no counter that means anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.load.verdict import broken_reasons
from harness.results import LatencySummary, LeakVerdict, LoadResults, Storm
from reports import fmt, shape, telemetry

DEFAULT_THRESHOLD_PCT = 10.0
GATED_LATENCY = "p99"


@dataclass(frozen=True)
class Delta:
    """One metric of both runs; a value None when that run did not measure it. `unit`: "us"
    (shown in ms), "count", "s", "%" (of one core) or "bytes"."""

    name: str
    base: float | None
    new: float | None
    unit: str = "count"
    regressed: bool = False

    @property
    def abs(self) -> float | None:
        """NEW minus BASE (None when either is missing)."""
        return None if self.base is None or self.new is None else self.new - self.base

    @property
    def rel(self) -> float | None:
        """(NEW - BASE) / BASE; None when BASE is zero or either is missing."""
        change = self.abs
        return None if change is None or not self.base else change / self.base

    def cells(self) -> list[str]:
        """Name, BASE, NEW, absolute and relative change, formatted for a table."""
        change = "—" if self.abs is None else _signed(self.abs, self.unit)
        base, new = _show(self.base, self.unit), _show(self.new, self.unit)
        return [self.name, base, new, change, fmt.percent(self.rel)]


def _show(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return {
        "us": fmt.ms,
        "count": fmt.count,
        "s": lambda v: f"{v:g} s",
        "%": lambda v: f"{v:.0f}%",
        "bytes": telemetry.size,
    }[unit](value)


def _signed(value: float, unit: str) -> str:
    if unit == "count":
        return fmt.signed(value)
    return ("+" if value >= 0 else "-") + _show(abs(value), unit)


@dataclass
class Comparison:
    """The deltas and the verdict of NEW against BASE."""

    deltas: list[Delta]
    threshold_pct: float
    reasons: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    """Why BASE or NEW cannot be compared ("NEW is broken: ...")."""
    warnings: list[str] = field(default_factory=list)
    """What makes the comparison doubtful without failing it (runs of different shapes)."""
    facts: list[list[str]] = field(default_factory=list)
    """Figures that are no number, as (what, BASE, NEW) rows: leak verdicts, storms."""

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
        delta = Delta(label, b, n, "us")
        if name == GATED_LATENCY and delta.rel is not None and delta.rel * 100 > threshold_pct:
            delta = Delta(label, b, n, "us", regressed=True)
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
    _connects(result, base, new)
    _server(result, base, new)
    warning = shape.warning(base.config, new.config)
    if warning:
        result.warnings.append(warning)
    return result


def _connects(result: Comparison, base: LoadResults, new: LoadResults) -> None:
    """Connect latency and reconnect-storm recovery, shown when either run measured them."""
    b, n = base.connect_latency_us, new.connect_latency_us
    if b.count or n.count:
        for name in ("p50", "p99"):
            delta = Delta(f"connect {name}", _measured(b, name), _measured(n, name), "us")
            result.deltas.append(delta)
    if base.storm is None and new.storm is None:
        return
    result.facts.append(["reconnect storm", _storm_fact(base.storm), _storm_fact(new.storm)])
    for name, label in (("back_99_s", "99% back after"), ("back_100_s", "all back after")):
        b_s, n_s = (getattr(r.storm, name) if r.storm else None for r in (base, new))
        result.deltas.append(Delta(f"storm: {label}", b_s, n_s, "s"))


def _measured(summary: LatencySummary, name: str) -> float | None:
    return float(getattr(summary, name)) if summary.count else None


def _storm_fact(storm: Storm | None) -> str:
    if storm is None:
        return "none"
    back = "not all back" if storm.back_100_s is None else f"all back after {storm.back_100_s:g} s"
    return f"{storm.dropped:,} dropped at {storm.at_s:g} s, {back}"


def _server(result: Comparison, base: LoadResults, new: LoadResults) -> None:
    """The server's CPU and RSS peaks and its leak verdict, when either run had telemetry."""
    b, n = base.server, new.server
    if b is None and n is None:
        return
    for name, peak, unit in (
        ("server CPU max", telemetry.cpu_max, "%"),
        ("server RSS max", telemetry.rss_max, "bytes"),
    ):
        result.deltas.append(Delta(name, peak(b) if b else None, peak(n) if n else None, unit))
    b_leak, n_leak = (b.leak if b else None), (n.leak if n else None)
    grew = n_leak is not None and n_leak.verdict == "leak"
    grew = grew and (b_leak is None or b_leak.verdict != "leak")
    per_conn = (
        _leak_figure(b_leak, "bytes_per_churned_conn"),
        _leak_figure(n_leak, "bytes_per_churned_conn"),
    )
    result.deltas.append(Delta("bytes per churned connection", *per_conn, "bytes", grew))
    fds = (_leak_figure(b_leak, "fd_growth"), _leak_figure(n_leak, "fd_growth"))
    result.deltas.append(Delta("server fd growth", *fds))
    verdicts = [leak.verdict if leak else "no server telemetry" for leak in (b_leak, n_leak)]
    result.facts.append(["server leak verdict", *verdicts])
    if grew:
        result.reasons.append(f"server leak: {verdicts[0]} -> leak")


def _leak_figure(leak: LeakVerdict | None, name: str) -> float | None:
    value = getattr(leak, name) if leak is not None else None
    return None if value is None else float(value)


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
