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


_LAYOUT = new_histogram()
SUB_MASK: int = _LAYOUT.sub_bucket_mask  # 2047
HALF_BITS: int = _LAYOUT.sub_bucket_half_count_magnitude  # 10
SHIFT_BASE: int = HALF_BITS + 1  # the bit length of SUB_MASK
assert _LAYOUT.unit_magnitude == 0  # what `index` relies on (LOWEST_US is 1)


def new_counts() -> dict[int, int]:
    """Counts by slot of our histograms' counts array (see `index`); slots never hit are absent.

    The load generator counts every delivery into one of these, one dict update a frame
    (an HdrHistogram's ctypes counts and its total/min/max bookkeeping cost several times
    that), and turns it into an HdrHistogram once a second (`to_histogram`, which only visits
    the slots hit).
    """
    return {}


def index(value: int) -> int:
    """The counts index of `value` (in range, see `clamp_us`): hdrh's own arithmetic with our
    configuration's constants folded in. The receive path inlines this expression."""
    shift = (value | SUB_MASK).bit_length() - SHIFT_BASE
    return (shift << HALF_BITS) + (value >> shift)


def to_histogram(counts: dict[int, int]) -> HdrHistogram:
    """The HdrHistogram holding `counts` (from `new_counts`): the counts copied in, then
    total, min and max set as hdrh's own decoder sets them."""
    h = new_histogram()
    if counts:
        slots = h.counts
        for i, count in counts.items():
            slots[i] = count
        h.set_internal_tacking_values(min(counts), max(counts), sum(counts.values()))
    return h


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
