"""The sampler's baseline: a descriptor count two readings agree on, not one reading's."""

from __future__ import annotations

from collections.abc import Iterator

from harness.load import leak
from harness.load.server_sources import Reading, empty_reading
from harness.load.serverwatch import BASELINE_READS, Sampler


class Scripted:
    """A source whose readings have the descriptor counts given, then the last one forever."""

    name = "scripted"

    def __init__(self, fds: list[int]) -> None:
        self._fds: Iterator[int] = iter(fds)
        self._last = fds[-1]

    def read(self) -> Reading:
        reading = empty_reading()
        reading["fds"] = self._last = next(self._fds, self._last)
        return reading


def baseline(fds: list[int]) -> int | None:
    sampler = Sampler([Scripted(fds)], interval=60)  # the background thread never samples
    sampler.start()
    sampler.stop()
    return sampler.baseline_fds()


def test_a_file_open_for_a_moment_at_the_first_reading_is_not_the_baseline():
    # the CI failure this guards against: the first reading caught one descriptor more than
    # the server holds, and a correct server "closed one" over the run
    assert baseline([15, 14, 14]) == 14
    assert baseline([14, 14]) == 14
    assert baseline([14, 15, 15]) == 15  # a descriptor that stays is the server's


def test_readings_that_never_agree_give_the_fewest():
    fds = [18, 16, 19, 15, 17, 13]
    assert len(fds) > BASELINE_READS
    assert baseline(fds) == min(fds[:BASELINE_READS])


def test_fd_growth_never_goes_below_zero_and_both_counts_are_kept():
    rows = [{"t": t, "connections": 0, "churned": 0} for t in range(10)]
    series = [{"t": t / 2, "rss_bytes": 1e6, "fds": 13} for t in range(24)]
    v = leak.verdict(series, rows, (3.0, 10.0), 14)
    assert v["fd_growth"] == 0 and (v["fds_before"], v["fds_after"]) == (14, 13)
