"""What the charts need from an HdrHistogram: the percentile curve and histogram bins.

Values stay in the histogram's unit (microseconds for chatbench); the charts convert.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hdrh.histogram import HdrHistogram

# Percentile levels whose position on the 1/(1-q) axis gets a tick label.
PERCENTILE_TICKS = (0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999)


class Curve(NamedTuple):
    """A percentile curve: x = 1/(1-q) for percentile level q, y = the value at q."""

    x: list[float]
    y: list[float]


def percentile_x(q: float) -> float:
    """Position of percentile level q (0 <= q < 1) on HdrHistogram's percentile axis."""
    return 1.0 / (1.0 - q)


def percentile_label(q: float) -> str:
    """A tick label for level q: 0.5 -> '50%', 0.999 -> '99.9%'."""
    return f"{q * 100:.6f}".rstrip("0").rstrip(".") + "%"


def percentile_curve(histogram: HdrHistogram, ticks_per_half_distance: int = 5) -> Curve:
    """The full distribution as HdrHistogram plots it, ending at the maximum.

    The maximum sits at x = total count: with N samples the largest one is the 1-1/N quantile.
    """
    x: list[float] = []
    y: list[float] = []
    if histogram.get_total_count() == 0:
        return Curve(x, y)
    for step in histogram.get_percentile_iterator(ticks_per_half_distance):
        q = step.percentile_level_iterated_to / 100.0
        if q >= 1.0:
            break
        x.append(percentile_x(q))
        y.append(float(histogram.get_highest_equivalent_value(step.value_iterated_to)))
    x.append(max(float(histogram.get_total_count()), x[-1] if x else 1.0))
    y.append(float(histogram.get_max_value()))
    return Curve(x, y)


class Bins(NamedTuple):
    """Histogram bins: len(edges) == len(counts) + 1."""

    edges: list[float]
    counts: list[float]


def log_bins(histogram: HdrHistogram, bins: int = 40) -> Bins:
    """Counts of the recorded values in `bins` logarithmically spaced bins."""
    values, counts = recorded(histogram)
    if not values:
        return Bins([], [])
    low, high = max(min(values), 1.0), max(max(values), 1.0)
    if high <= low * 1.01:
        low, high = low / 1.5, high * 1.5
    edges = np.geomspace(low, high, bins + 1)
    hist, _ = np.histogram(np.clip(values, low, high), bins=edges, weights=counts)
    return Bins([float(e) for e in edges], [float(c) for c in hist])


def recorded(histogram: HdrHistogram) -> tuple[list[float], list[float]]:
    """Every distinct recorded value (its bucket's median) and how often it was recorded."""
    values: list[float] = []
    counts: list[float] = []
    for step in histogram.get_recorded_iterator():
        low = histogram.get_lowest_equivalent_value(step.value_iterated_to)
        high = histogram.get_highest_equivalent_value(step.value_iterated_to)
        values.append((low + high) / 2.0)
        counts.append(float(step.count_added_in_this_iter_step))
    return values, counts


def value_at(histogram: HdrHistogram, percentile: float) -> float:
    """The value at `percentile` (0-100)."""
    return float(histogram.get_value_at_percentile(percentile))
