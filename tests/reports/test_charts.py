"""Each chart is checked on its Figure: title, axis labels with units, series and their data."""

import pytest
from hdrh.histogram import HdrHistogram
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch

from harness.results import LatencySummary, TimeseriesRow
from reports import build, charts, hdr
from reports.data import LoadRun


def lines(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines()}


def ms(values) -> list[float]:
    return [v / 1000 for v in values]


def shaded(ax, label) -> list[tuple[float, float]]:
    """(start, end) of each band carrying `label` (the first) or its hidden repeats."""
    bands = [p for p in ax.patches if p.get_label().lstrip("_") == label]
    return sorted((p.get_x(), p.get_x() + p.get_width()) for p in bands)


def assert_time_events_marked(ax, rows):
    """The saturated second and each churn burst are one shaded band each, no lines."""
    assert [r.t for r in rows if r.saturated] == [20.0], "the recorded run saturates at 20 s"
    assert shaded(ax, charts.SATURATED_LABEL) == [(20.0, 21.0)]
    assert [r.t for r in rows if r.abrupt_disconnects > 0] == [8.0, 22.0]
    assert shaded(ax, charts.CHURN_LABEL) == [(8.0, 9.0), (22.0, 23.0)]
    labels = [p.get_label() for p in ax.patches]
    assert labels.count(charts.CHURN_LABEL) == labels.count(charts.SATURATED_LABEL) == 1
    assert not [line for line in ax.get_lines() if "churn" in line.get_label()]


def test_latency_over_time_plots_each_percentile_per_second(base_run):
    rows = base_run.results.timeseries
    fig = charts.latency_over_time(rows)
    ax = fig.axes[0]
    assert isinstance(fig, Figure)
    assert ax.get_title(loc="left") == "Fan-out latency over time"
    assert ax.get_xlabel() == "Time since start (s)"
    assert ax.get_ylabel().startswith("Latency (ms")
    got = lines(ax)
    for name in ("p50", "p90", "p99", "max"):
        assert list(got[name].get_xdata()) == [r.t for r in rows]
        assert list(got[name].get_ydata()) == pytest.approx(ms(getattr(r, name) for r in rows))
    assert ax.get_yscale() == "log"  # the spike spans more than a decade
    assert_time_events_marked(ax, rows)


def test_latency_over_time_falls_back_to_hlog_intervals(base_run):
    fig = charts.latency_over_time([], base_run.intervals)
    got = lines(fig.axes[0])
    expected_p99 = [i.histogram.get_value_at_percentile(99) for i in base_run.intervals]
    assert list(got["p99"].get_ydata()) == pytest.approx(ms(expected_p99))
    assert list(got["max"].get_xdata()) == [float(t) for t in range(30)]


def test_distribution_is_on_the_percentile_axis_and_ends_at_the_max(base_run):
    fig = charts.distribution({"fan-out": base_run.fanout})
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "Fan-out latency distribution"
    assert ax.get_xlabel() == "Percentile"
    assert ax.get_ylabel() == "Latency (ms)"
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[:6] == ["0%", "50%", "90%", "99%", "99.9%", "99.99%"]
    assert [t for t in ax.get_xticks()][:5] == pytest.approx([1, 2, 10, 100, 1000])
    line = lines(ax)["fan-out"]
    x, y = list(line.get_xdata()), list(line.get_ydata())
    assert x[0] == 1.0 and y == sorted(y)
    assert y[-1] == base_run.results.fanout_latency_us.max / 1000
    p99 = base_run.results.fanout_latency_us.p99 / 1000
    assert all(v <= p99 for xi, v in zip(x, y, strict=True) if xi < 100)
    assert all(v >= p99 for xi, v in zip(x, y, strict=True) if xi > 100)


def test_compare_distribution_overlays_both_runs(base_run, worse_run):
    fig = charts.distribution({"BASE": base_run.fanout, "NEW": worse_run.fanout}, "A vs B")
    got = lines(fig.axes[0])
    assert set(got) == {"BASE", "NEW"}
    assert got["NEW"].get_ydata()[-1] == worse_run.results.fanout_latency_us.max / 1000
    assert fig.axes[0].get_title(loc="left") == "A vs B"


def test_p99_over_time_overlays_runs(base_run, worse_run):
    runs = {"BASE": base_run.results.timeseries, "NEW": worse_run.results.timeseries}
    ax = charts.p99_over_time(runs).axes[0]
    assert ax.get_title(loc="left") == "Fan-out p99 over time"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Time since start (s)", "Latency (ms)")
    for label, rows in runs.items():
        assert list(lines(ax)[label].get_ydata()) == pytest.approx(ms(r.p99 for r in rows))


def test_histogram_counts_every_delivery(base_run):
    fig = charts.latency_histogram(base_run.fanout)
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "Fan-out latency histogram"
    assert ax.get_xlabel() == "Latency (ms)"
    assert ax.get_ylabel() == "Deliveries (count)"
    (stairs,) = [p for p in ax.patches if isinstance(p, StepPatch)]
    assert stairs.get_label() == "fan-out"
    assert stairs.get_data().values.sum() == base_run.results.fanout_latency_us.count
    markers = {k.split(" ")[0]: v.get_xdata()[0] for k, v in lines(ax).items()}
    assert markers["p99"] == base_run.results.fanout_latency_us.p99 / 1000


def test_throughput_has_sent_delivered_and_connections(base_run):
    rows = base_run.results.timeseries
    fig = charts.throughput(rows)
    left, right = fig.axes
    assert left.get_title(loc="left") == "Messages per second"
    assert left.get_ylabel() == "Messages per second (msg/s)"
    assert right.get_ylabel() == "Active connections (count)"
    assert list(lines(left)["sent/s"].get_ydata()) == [r.sent for r in rows]
    assert list(lines(left)["delivered/s"].get_ydata()) == [r.delivered for r in rows]
    assert list(lines(right)["connections"].get_ydata()) == [r.connections for r in rows]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"sent/s", "delivered/s", "connections", "churn burst", "generator saturated"} <= set(
        legend
    )
    assert_time_events_marked(left, rows)


def test_ledger_stacks_each_kind_of_event_per_second(base_run):
    rows = base_run.results.timeseries
    fig = charts.ledger_events(rows)
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "Delivery ledger events per second"
    assert ax.get_ylabel() == "Events (count)"
    bars = {c.get_label().split(" (")[0]: c for c in ax.containers if isinstance(c, BarContainer)}
    assert list(bars) == ["lost", "duplicated", "out of order", "leave missing"]
    assert [b.get_height() for b in bars["lost"]] == [r.lost for r in rows]
    assert [b.get_height() for b in bars["leave missing"]] == [r.leave_missing for r in rows]
    assert bars["lost"].get_label() == "lost (7 total)"
    assert_time_events_marked(ax, rows)


def test_connections_the_server_ended_are_stacked_when_there_were_any():
    rows = [TimeseriesRow(t=float(t), server_closes=3 if t == 2 else 0) for t in range(5)]
    ax = charts.ledger_events(rows).axes[0]
    bars = {c.get_label().split(" (")[0]: c for c in ax.containers if isinstance(c, BarContainer)}
    assert "server closes" in bars and "connections lost" not in bars
    assert [b.get_height() for b in bars["server closes"]] == [0, 0, 3, 0, 0]
    assert len(ax.texts) == 0  # no "No delivery problems recorded"


def test_a_clean_ledger_says_so():
    rows = [TimeseriesRow(t=float(t), sent=5, delivered=50) for t in range(5)]
    ax = charts.ledger_events(rows).axes[0]
    assert [t.get_text() for t in ax.texts] == ["No delivery problems recorded"]


def test_latency_by_room_size_groups_percentiles_per_size(base_run):
    by_size = base_run.results.by_room_size
    ax = charts.latency_by_room_size(by_size).axes[0]
    assert ax.get_title(loc="left") == "Fan-out latency by room size"
    assert ax.get_xlabel() == "Room size (members)"
    assert ax.get_ylabel() == "Latency (ms)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["10", "100"]
    bars = {c.get_label(): c for c in ax.containers}
    for name in ("p50", "p90", "p99", "max"):
        heights = [b.get_height() for b in bars[name]]
        assert heights == pytest.approx([getattr(by_size[s], name) / 1000 for s in ("10", "100")])


def test_room_sizes_sort_numerically():
    sizes = {"100": LatencySummary(p50=2), "9": LatencySummary(p50=1), "big": LatencySummary()}
    ax = charts.latency_by_room_size(sizes).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["9", "100", "big"]


def test_load_figures_draw_what_the_run_has(base_run):
    assert list(build.load_figures(base_run)) == [
        "latency_over_time",
        "latency_distribution",
        "latency_histogram",
        "throughput",
        "ledger_events",
        "latency_by_room_size",
    ]
    bare = LoadRun(base_run.source, base_run.results.model_copy(update={"by_room_size": {}}))
    assert list(build.load_figures(bare)) == ["latency_over_time", "throughput", "ledger_events"]


def test_percentile_helpers():
    assert hdr.percentile_x(0.99) == pytest.approx(100)
    assert [hdr.percentile_label(q) for q in (0.0, 0.5, 0.999, 0.99999)] == [
        "0%",
        "50%",
        "99.9%",
        "99.999%",
    ]
    h = HdrHistogram(1, 1_000_000, 3)
    for v in range(1, 1001):
        h.record_value(v)
    curve = hdr.percentile_curve(h)
    assert curve.y[-1] == 1000 and curve.x[-1] >= 1000  # the max sits at x >= N
    assert sum(hdr.log_bins(h).counts) == 1000
    assert hdr.percentile_curve(HdrHistogram(1, 1000, 3)) == hdr.Curve([], [])


def tick_labels(axis) -> list[str]:
    axis.figure.canvas.draw()
    return [t.get_text() for t in axis.get_ticklabels() + axis.get_ticklabels(minor=True)]


def narrow_histogram() -> HdrHistogram:
    """1.5 to 3.5 ms: less than a decade, where matplotlib labels minor ticks 2x10^0."""
    h = HdrHistogram(1, 60_000_000, 3)
    for v in range(1_500, 3_500, 7):
        h.record_value(v)
    return h


def test_histogram_axis_labels_are_plain_milliseconds():
    labels = [
        t for t in tick_labels(charts.latency_histogram(narrow_histogram()).axes[0].xaxis) if t
    ]
    assert {"2", "3"} <= set(labels)
    assert not [t for t in labels if "10^" in t or "times" in t or "$" in t]


def test_log_latency_axis_over_time_is_plain_too(base_run):
    ax = charts.latency_over_time(base_run.results.timeseries).axes[0]
    labels = [t for t in tick_labels(ax.yaxis) if t]
    assert "10" in labels and not [t for t in labels if "$" in t]


def test_count_axes_have_integer_ticks_even_when_empty(base_run):
    clean = [TimeseriesRow(t=float(t), sent=5, delivered=50) for t in range(5)]
    for rows in (clean, base_run.results.timeseries):
        ax = charts.ledger_events(rows).axes[0]
        ax.figure.canvas.draw()
        ticks = list(ax.get_yticks())
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert ax.get_ylim()[1] >= 1
    right = charts.throughput(base_run.results.timeseries).axes[1]
    right.figure.canvas.draw()
    assert all(float(t).is_integer() for t in right.get_yticks())
