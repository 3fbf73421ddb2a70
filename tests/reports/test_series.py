"""Per-second series: gaps are NaN (in what matplotlib is given), bursts are spans."""

import math

from harness.results import ServerSample, TimeseriesRow
from reports import charts, series


def nan_at(values) -> list[int]:
    return [i for i, v in enumerate(values) if math.isnan(v)]


def drained_run() -> list[TimeseriesRow]:
    """Five seconds of deliveries, then three drain seconds with none; second 2 missing."""
    rows = [TimeseriesRow(t=float(t), sent=4, delivered=40, p99=2000, max=3000) for t in (0, 1)]
    rows += [TimeseriesRow(t=float(t), sent=4, delivered=40, p99=2500, max=4000) for t in (3, 4)]
    return rows + [TimeseriesRow(t=float(t), sent=0, delivered=0) for t in (5, 6, 7)]


def test_a_second_without_deliveries_is_a_gap_not_a_zero_latency():
    line = series.latency(drained_run(), "p99", 1000)
    assert line.x == [float(t) for t in range(8)]
    assert nan_at(line.y) == [2, 5, 6, 7]
    assert line.y[:2] == [2.0, 2.0] and line.y[3:5] == [2.5, 2.5]


def test_a_counter_is_zero_where_a_row_says_zero_and_a_gap_where_there_is_no_row():
    line = series.count(drained_run(), "sent")
    assert nan_at(line.y) == [2]
    assert line.y[5:] == [0.0, 0.0, 0.0]


def test_latency_chart_is_fed_nan_for_the_gaps():
    ax = charts.latency_over_time(drained_run()).axes[0]
    for line in ax.get_lines():
        assert nan_at(line.get_ydata()) == [2, 5, 6, 7], line.get_label()
    assert ax.get_yscale() == "linear"
    assert ax.get_xlim()[0] < 0 and ax.get_xlim()[1] > 7  # the drain stays on the chart


def test_p99_over_time_has_the_gaps_too():
    ax = charts.p99_over_time({"A": drained_run()}).axes[0]
    (line,) = ax.get_lines()
    assert nan_at(line.get_ydata()) == [2, 5, 6, 7]


def test_server_samples_missing_or_none_are_gaps():
    samples = [ServerSample(t=0.2, cpu=10), ServerSample(t=1.2, cpu=None), ServerSample(t=3.1)]
    line = series.on_grid(samples, lambda s: s.cpu)
    assert line.x == [0.0, 1.0, 2.0, 3.0]
    assert line.y[0] == 10 and nan_at(line.y) == [1, 2, 3]


def test_an_empty_run_has_empty_series():
    assert series.latency([], "p50") == series.Series([], [])


def test_consecutive_and_every_other_second_bursts_are_one_span():
    assert series.spans([3, 4, 5, 7, 9, 20, 21]) == [series.Span(3, 10), series.Span(20, 22)]
    assert series.spans([3, 5], join_gap=0) == [series.Span(3, 4), series.Span(5, 6)]
    assert series.spans([]) == []


def test_churn_on_most_seconds_is_one_band_not_a_line_per_second():
    rows = [TimeseriesRow(t=float(t), abrupt_disconnects=2 if t % 2 else 0) for t in range(30)]
    ax = charts.ledger_events(rows).axes[0]
    bands = [p for p in ax.patches if p.get_label().lstrip("_") == charts.CHURN_LABEL]
    assert [(b.get_x(), b.get_x() + b.get_width()) for b in bands] == [(1.0, 30.0)]


def test_server_samples_keep_their_own_times_and_break_where_samples_failed():
    every = [ServerSample(t=t / 4, cpu=float(t)) for t in range(-4, 8) if t not in (3, 4)]
    line = series.samples(every, lambda s: s.cpu, 0.25)
    assert line.x[:5] == [-1.0, -0.75, -0.5, -0.25, 0.0]  # the baseline before the run
    assert nan_at(line.y) == [7]  # between 0.5 and 1.25: two samples missing
    assert line.x[6:9] == [0.5, 0.875, 1.25]
    assert [v for v in line.y if not math.isnan(v)] == [s.cpu for s in every]
    late = [ServerSample(t=0.0, cpu=1), ServerSample(t=0.35, cpu=None), ServerSample(t=0.7, cpu=2)]
    assert nan_at(series.samples(late, lambda s: s.cpu, 0.25).y) == [1]  # jitter is no gap


def test_hlog_intervals_without_a_delivery_are_gaps_too():
    from hdrh.histogram import HdrHistogram

    from reports.data import Interval

    intervals = []
    for t in range(4):
        h = HdrHistogram(1, 60_000_000, 3)
        if t != 2:
            h.record_value(1000 * (t + 1))
        intervals.append(Interval(float(t), 1.0, h))
    ax = charts.latency_over_time([], intervals).axes[0]
    for line in ax.get_lines():
        assert nan_at(line.get_ydata()) == [2], line.get_label()
