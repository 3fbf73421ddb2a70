"""Per-second series for the time charts: one value per second of the run, NaN where none.

A second the run has no row for (and a latency of a second without a single delivery) is NaN,
never 0: matplotlib breaks a line at NaN, so a chart shows a gap where there was nothing to
measure instead of a drop to zero. Events that last a few seconds (churn bursts, saturation)
become spans, so one burst is one shaded band rather than a marker on every second.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, TypeVar

from harness.results import ServerSample, TimeseriesRow

NAN = math.nan
_R = TypeVar("_R", TimeseriesRow, ServerSample)


class Series(NamedTuple):
    """x (seconds since start, one per second of the grid) and y (NaN where nothing was seen)."""

    x: list[float]
    y: list[float]


class Span(NamedTuple):
    """Seconds [start, end) during which something went on."""

    start: float
    end: float


def grid(times: Iterable[float]) -> list[float]:
    """Every whole second from the first to the last of `times` (empty when there are none)."""
    seconds = [math.floor(t) for t in times]
    if not seconds:
        return []
    return [float(s) for s in range(min(seconds), max(seconds) + 1)]


def on_grid(rows: Sequence[_R], value: Callable[[_R], float | None]) -> Series:
    """`value` of each row at its second; NaN for seconds without a row or with value None."""
    by_second = {math.floor(r.t): value(r) for r in rows}
    x = grid(r.t for r in rows)
    y = [_number(by_second.get(int(t))) for t in x]
    return Series(x, y)


def _number(value: float | None) -> float:
    return NAN if value is None else float(value)


def samples(
    rows: Sequence[ServerSample], value: Callable[[ServerSample], float | None], interval: float
) -> Series:
    """`value` of each server sample at its own time (samples may come every 0.25 s); NaN for a
    sample without the figure, and a NaN point between two samples more than 1.5x
    `interval` apart (the samples in between failed)."""
    x: list[float] = []
    y: list[float] = []
    for row in sorted(rows, key=lambda r: r.t):
        if x and row.t - x[-1] > 1.5 * interval:
            x.append((x[-1] + row.t) / 2)
            y.append(NAN)
        x.append(row.t)
        y.append(_number(value(row)))
    return Series(x, y)


def latency(rows: Sequence[TimeseriesRow], name: str, scale: float = 1.0) -> Series:
    """Latency percentile `name` per second, divided by `scale`; NaN in seconds that recorded
    no fan-out latency (no delivery: a latency of 0 would be a lie)."""
    return on_grid(rows, lambda r: getattr(r, name) / scale if r.max > 0 else None)


def count(rows: Sequence[TimeseriesRow], name: str) -> Series:
    """A per-second counter; NaN only for seconds without a row (a 0 in a row is a real 0)."""
    return on_grid(rows, lambda r: float(getattr(r, name)))


def spans(seconds: Iterable[float], join_gap: float = 1.0) -> list[Span]:
    """Seconds merged into spans: consecutive seconds, and seconds at most `join_gap` apart
    (a burst every other second is one burst), become one span each."""
    merged: list[Span] = []
    for t in sorted(set(seconds)):
        if merged and t - merged[-1].end <= join_gap:
            merged[-1] = Span(merged[-1].start, t + 1)
        else:
            merged.append(Span(t, t + 1))
    return merged


def churn_spans(rows: Sequence[TimeseriesRow]) -> list[Span]:
    """The churn bursts: seconds with abrupt disconnects, merged."""
    return spans(r.t for r in rows if r.abrupt_disconnects > 0)


def saturated_spans(rows: Sequence[TimeseriesRow]) -> list[Span]:
    """Seconds the load generator was saturated, merged (consecutive seconds only)."""
    return spans((r.t for r in rows if r.saturated), join_gap=0.0)
