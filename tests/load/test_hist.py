"""harness.load.hist: counting in the histogram's layout equals hdrh's own record_value."""

import random

from harness.load import hist


def sample_values() -> list[int]:
    rng = random.Random(7)
    values = [1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 999_999, hist.HIGHEST_US]
    values += [rng.randint(hist.LOWEST_US, hist.HIGHEST_US) for _ in range(5000)]
    values += [int(10 ** rng.uniform(0, 7.7)) for _ in range(5000)]
    return values


def test_index_is_hdrh_counts_index_across_the_range():
    h = hist.new_histogram()
    for v in sample_values():
        assert hist.index(v) == h.get_counts_array_index(v), v


def test_counts_make_the_histogram_record_value_makes():
    counts, theirs = hist.new_counts(), hist.new_histogram()
    values = sample_values()
    for v in values:
        slot = hist.index(v)
        counts[slot] = counts.get(slot, 0) + 1
        theirs.record_value(v)
    ours = hist.to_histogram(counts)
    assert list(ours.counts) == list(theirs.counts)
    assert ours.get_total_count() == theirs.get_total_count() == len(values)
    assert ours.get_min_value() == theirs.get_min_value()
    assert ours.get_max_value() == theirs.get_max_value()
    assert ours.get_mean_value() == theirs.get_mean_value()
    assert hist.summary(ours) == hist.summary(theirs)
    assert hist.decode(hist.encode(ours)).get_total_count() == len(values)


def test_empty_counts_make_an_empty_histogram():
    assert hist.to_histogram(hist.new_counts()).get_total_count() == 0
