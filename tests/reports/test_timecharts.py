"""The stacked time charts: the server beside the latency, and connections through a storm."""

import math

import pytest
from matplotlib.container import BarContainer

from harness.results import ServerSample, ServerTelemetry, TimeseriesRow
from reports import build, charts, timecharts
from reports.data import LoadRun
from tests.reports.conftest import DATA
from tests.reports.test_charts import lines, shaded


@pytest.fixture(scope="module")
def server_run():
    from reports import data

    return data.load_run(DATA / "run_server")


@pytest.fixture(scope="module")
def storm_run():
    from reports import data

    return data.load_run(DATA / "run_storm")


def nan_at(values) -> list[int]:
    return [i for i, v in enumerate(values) if math.isnan(v)]


def test_server_chart_stacks_latency_cpu_rss_fds_and_connections_on_one_x_axis(server_run):
    r = server_run.results
    fig = timecharts.server_over_time(r.timeseries, r.server)
    axes = fig.axes
    assert axes[0].get_title(loc="left") == "Server under test over time (pid 4242)"
    assert [ax.get_ylabel() for ax in axes] == [
        "Latency (ms)",
        "CPU (% of a core)",
        "RSS (MiB)",
        "Open fds (count)",
        "Connections (count)",
    ]
    assert all(axes[0].get_shared_x_axes().joined(axes[0], ax) for ax in axes[1:])
    assert axes[-1].get_xlabel() == charts.TIME_LABEL
    assert all(ax.get_xlabel() == "" for ax in axes[:-1])


def test_server_samples_are_drawn_at_their_time_with_a_gap_for_the_failed_one(server_run):
    r = server_run.results
    _, cpu, rss, fds, _ = timecharts.server_over_time(r.timeseries, r.server).axes
    line = lines(cpu)["server CPU"]
    x, y = list(line.get_xdata()), list(line.get_ydata())
    times = [s.t for s in r.server.timeseries]
    assert 17.3 not in times  # the failed sample
    assert [t for t, v in zip(x, y, strict=True) if not math.isnan(v)] == times
    (gap,) = [t for t, v in zip(x, y, strict=True) if math.isnan(v)]
    assert 16.3 < gap < 18.3
    assert [v for v in y if not math.isnan(v)] == [s.cpu for s in r.server.timeseries]
    assert lines(cpu)[timecharts.ONE_CORE_LABEL].get_ydata()[0] == 100
    mib = lines(rss)["server RSS"].get_ydata()
    assert mib[0] == pytest.approx(r.server.timeseries[0].rss_bytes / 2**20)
    fds.figure.canvas.draw()
    assert all(float(t).is_integer() for t in fds.get_yticks())


def test_server_chart_latency_ends_in_a_gap_after_the_sends(server_run):
    r = server_run.results
    latency = timecharts.server_over_time(r.timeseries, r.server).axes[0]
    for name in ("fan-out p50", "fan-out p99"):
        assert nan_at(lines(latency)[name].get_ydata()) == [36, 37, 38, 39]


def test_churn_every_other_second_is_one_band_and_saturation_is_on_every_panel(server_run):
    r = server_run.results
    axes = timecharts.server_over_time(r.timeseries, r.server).axes
    for ax in axes:
        assert shaded(ax, charts.CHURN_LABEL) == [(6.0, 31.0)]
        assert shaded(ax, charts.SATURATED_LABEL) == [(25.0, 26.0)]
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in axes]
    assert charts.CHURN_LABEL in legends[0] and charts.SATURATED_LABEL in legends[0]
    assert not [t for legend in legends[1:] for t in legend if t == charts.CHURN_LABEL]


def test_the_server_and_the_clients_connection_counts_are_both_drawn(server_run):
    r = server_run.results
    connections = timecharts.server_over_time(r.timeseries, r.server).axes[-1]
    got = lines(connections)
    assert list(got["clients' connections"].get_ydata()) == [
        row.connections for row in r.timeseries
    ]
    assert got["server's connections"].get_ydata()[-1] == r.server.timeseries[-1].connections


def test_a_metrics_source_without_rss_or_fds_draws_only_what_it_has():
    rows = [
        TimeseriesRow(t=float(t), p50=1000, p99=2000, max=3000, connections=5) for t in range(4)
    ]
    samples = [ServerSample(t=float(t), cpu=10.0 * t) for t in range(4)]
    fig = timecharts.server_over_time(
        rows, ServerTelemetry(source="http://x/metrics", timeseries=samples)
    )
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "Latency (ms)",
        "CPU (% of a core)",
        "Connections (count)",
    ]


def test_connections_chart_marks_the_storm_and_the_recoveries(storm_run):
    r = storm_run.results
    top, bottom = timecharts.connections_over_time(r.timeseries, r.storm).axes
    assert top.get_title(loc="left") == "Connections and reconnects over time"
    assert (top.get_ylabel(), bottom.get_ylabel()) == ("Connections (count)", "Per second (count)")
    for ax in (top, bottom):
        marks = sorted(
            line.get_xdata()[0]
            for line in ax.get_lines()
            if line.get_label().lstrip("_").startswith(timecharts.STORM_LABEL)
            or "back after" in line.get_label()
        )
        assert marks == pytest.approx([20.0, 23.4, 25.2])
    labels = [t.get_text() for t in top.get_legend().get_texts()]
    assert "storm: 200 dropped" in labels
    assert "99% back after 3.4 s" in labels and "all back after 5.2 s" in labels
    (bars,) = [c for c in bottom.containers if isinstance(c, BarContainer)]
    assert [b.get_height() for b in bars] == [row.connects for row in r.timeseries]
    reconnects = lines(bottom)["reconnects/s"].get_ydata()
    assert list(reconnects) == [row.reconnects for row in r.timeseries]
    assert list(lines(top)["open connections"].get_ydata())[19:22] == [200, 0, 90]


def test_a_storm_not_everybody_came_back_from_says_so(storm_run):
    r = storm_run.results
    storm = r.storm.model_copy(update={"back_100_s": None})
    marks = timecharts.storm_marks(storm)
    assert [label for _, label, _ in marks] == [
        "storm: 200 dropped, not all back by the end",
        "99% back after 3.4 s",
    ]


def test_load_figures_add_server_connections_and_connect_charts_when_the_run_has_them(
    base_run, server_run, storm_run
):
    assert {"server_over_time", "connections_over_time", "connect_distribution"} <= set(
        build.load_figures(server_run)
    )
    storm = build.load_figures(storm_run)
    assert "connections_over_time" in storm and "server_over_time" not in storm
    base = build.load_figures(base_run)
    assert not {"server_over_time", "connections_over_time", "connect_distribution"} & set(base)


def test_connect_distribution_ends_at_the_connect_max(server_run):
    fig = build.load_figures(server_run)["connect_distribution"]
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "Connect latency distribution"
    y = lines(ax)["connect"].get_ydata()
    assert y[-1] == server_run.results.connect_latency_us.max / 1000


def test_a_run_without_server_telemetry_has_no_server_chart(base_run):
    bare = LoadRun(base_run.source, base_run.results.model_copy(update={"server": None}))
    assert "server_over_time" not in build.load_figures(bare)


def test_a_storm_is_marked_on_every_server_panel(server_run, storm_run):
    r = server_run.results
    fig = timecharts.server_over_time(r.timeseries, r.server, storm_run.results.storm)
    for ax in fig.axes:
        storm = [
            line.get_xdata()[0]
            for line in ax.get_lines()
            if line.get_label().lstrip("_").startswith(timecharts.STORM_LABEL)
        ]
        assert storm == [20.0]
    no_storm = timecharts.server_over_time(r.timeseries, r.server).axes[0]
    assert not [line for line in no_storm.get_lines() if "storm" in line.get_label()]


def test_a_storm_is_marked_on_the_latency_chart_too(storm_run, base_run):
    ax = build.load_figures(storm_run)["latency_over_time"].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "storm: 200 dropped" in labels and "99% back after 3.4 s" in labels
    base = build.load_figures(base_run)["latency_over_time"].axes[0]
    assert not [t for t in base.get_legend().get_texts() if "storm" in t.get_text()]


def test_server_telemetry_without_a_single_sample_draws_no_server_chart(server_run):
    r = server_run.results
    empty = r.server.model_copy(update={"timeseries": []})
    bare = LoadRun(server_run.source, r.model_copy(update={"server": empty}))
    assert "server_over_time" not in build.load_figures(bare)


def test_a_recovery_after_the_last_row_stays_on_the_chart(storm_run):
    r = storm_run.results
    late = r.storm.model_copy(update={"back_100_s": 30.0})  # back at 50 s, rows end at 42
    for fig in (
        timecharts.connections_over_time(r.timeseries, late),
        timecharts.server_over_time(
            r.timeseries, ServerTelemetry(source="p", timeseries=[ServerSample(t=0, cpu=1)]), late
        ),
    ):
        assert all(ax.get_xlim()[1] > 50 for ax in fig.axes)
