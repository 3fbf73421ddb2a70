"""harness.load.hist: the inlined record equals hdrh's own record_value."""

import random

from harness.load import hist


def test_record_matches_record_value_across_the_range():
    ours, theirs = hist.new_histogram(), hist.new_histogram()
    rng = random.Random(7)
    values = [1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 999_999, hist.HIGHEST_US]
    values += [rng.randint(hist.LOWEST_US, hist.HIGHEST_US) for _ in range(5000)]
    values += [int(10 ** rng.uniform(0, 7.7)) for _ in range(5000)]
    for v in values:
        hist.record(ours, v)
        theirs.record_value(v)
    assert list(ours.counts) == list(theirs.counts)
    assert ours.get_total_count() == theirs.get_total_count() == len(values)
    assert ours.get_min_value() == theirs.get_min_value()
    assert ours.get_max_value() == theirs.get_max_value()
    assert hist.summary(ours) == hist.summary(theirs)
    assert hist.decode(hist.encode(ours)).get_total_count() == len(values)
