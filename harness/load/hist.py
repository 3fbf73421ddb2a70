"""HdrHistogram helpers: one configuration (1 us .. 60 s, 3 significant digits) everywhere.

Every histogram chatbench records or merges has the same configuration, so adding them is
exact: a merged histogram equals the one a single process would have recorded.
"""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 60_000_000
DIGITS = 3


def new_histogram() -> HdrHistogram:
    """An empty latency histogram in microseconds."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def clamp_us(value: int) -> int:
    """`value` forced into the recordable range (a 0 us or a > 60 s latency still counts)."""
    return LOWEST_US if value < LOWEST_US else HIGHEST_US if value > HIGHEST_US else value


def summary(h: HdrHistogram) -> dict[str, float]:
    """count, p50, p90, p99, p999, max and mean of `h`, in microseconds."""
    count = h.get_total_count()
    if not count:
        return {"count": 0, "p50": 0, "p90": 0, "p99": 0, "p999": 0, "max": 0, "mean": 0}
    return {
        "count": count,
        "p50": h.get_value_at_percentile(50),
        "p90": h.get_value_at_percentile(90),
        "p99": h.get_value_at_percentile(99),
        "p999": h.get_value_at_percentile(99.9),
        "max": h.get_max_value(),
        "mean": round(h.get_mean_value(), 1),
    }


def encode(h: HdrHistogram) -> str:
    """`h` as compressed base64 text (HdrHistogram's standard encoding)."""
    return h.encode().decode()  # type: ignore[no-any-return]


def decode(text: str) -> HdrHistogram:
    """The histogram `encode` produced; empty text gives an empty histogram."""
    if not text:
        return new_histogram()
    return HdrHistogram.decode(text.encode())


def merged(histograms: list[HdrHistogram]) -> HdrHistogram:
    """The exact sum of `histograms` (all in our configuration)."""
    total = new_histogram()
    for h in histograms:
        if h.get_total_count():
            total.add(h)
    return total
