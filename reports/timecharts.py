"""Stacked charts on one time axis: the server under test beside the latency it caused, and
the connections (ramp, churn, a reconnect storm and how fast the users came back).

Every panel shares the x axis (seconds since the run started, the clock of `timeseries`; the
server's samples are on it too), so a latency spike lines up with the CPU, memory or
connection count of the same second. Churn bursts and generator saturation are shaded on
every panel; seconds without a sample are gaps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.results import ServerSample, ServerTelemetry, Storm, TimeseriesRow
from reports import charts, series, telemetry

MIB = 1024.0 * 1024.0
ONE_CORE_LABEL = "one core (100%)"
STORM_LABEL = "storm"
Panel = Callable[[Axes], None]


def stacked(title: str, panels: Sequence[Panel], rows: Sequence[TimeseriesRow]) -> Figure:
    """One panel per function, sharing x; the time events shaded on all of them."""
    fig = Figure(figsize=(9, 1.0 + 2.1 * len(panels)), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for n, (ax, draw) in enumerate(zip(axes, panels, strict=True)):
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        draw(ax)
        charts.mark_time_events(ax, rows, legend=n == 0)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    axes[0].set_title(title, fontsize=13, loc="left", fontweight="bold")
    axes[-1].set_xlabel(charts.TIME_LABEL)
    return fig


def _has(samples: Sequence[ServerSample], name: str) -> bool:
    return any(getattr(s, name) is not None for s in samples)


def server_over_time(
    rows: Sequence[TimeseriesRow], server: ServerTelemetry, storm: Storm | None = None
) -> Figure:
    """Fan-out latency, then the server's CPU, RSS, descriptors and connections: each panel
    drawn when the source gave that figure at all; a reconnect storm marked on every panel."""
    samples, every = server.timeseries, server.interval_s
    panels: list[Panel] = []
    if rows:
        panels.append(lambda ax: _latency_panel(ax, rows))
    if _has(samples, "cpu"):
        panels.append(lambda ax: _cpu_panel(ax, samples, every))
    if _has(samples, "rss_bytes"):
        panels.append(lambda ax: _rss_panel(ax, samples, every))
    if _has(samples, "fds"):
        panels.append(lambda ax: _count_panel(ax, samples, every, "fds", "Open fds (count)"))
    if _has(samples, "connections") or rows:
        panels.append(lambda ax: _connections_panel(ax, rows, samples, every))
    fig = stacked(f"Server under test over time ({server.source})", panels, rows)
    if storm is not None:
        _mark_storm_everywhere(fig, storm)
    return fig


def _mark_storm_everywhere(fig: Figure, storm: Storm) -> None:
    for n, ax in enumerate(fig.axes):
        mark_storm(ax, storm, legend=n == 0)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)


def _latency_panel(ax: Axes, rows: Sequence[TimeseriesRow]) -> None:
    values = []
    for name in ("p50", "p99"):
        line = series.latency(rows, name, charts.US_PER_MS)
        ax.plot(line.x, line.y, label=f"fan-out {name}", color=charts.COLORS[name], lw=1.4)
        values += line.y
    charts.latency_scale(ax, values)
    ax.set_ylabel("Latency (ms)")


def _cpu_panel(ax: Axes, samples: Sequence[ServerSample], interval: float) -> None:
    ax.plot(
        *series.samples(samples, lambda s: s.cpu, interval), label="server CPU", color="#9467bd"
    )
    ax.axhline(100, color="#d62728", ls="--", lw=1, label=ONE_CORE_LABEL)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("CPU (% of a core)")


def _rss_panel(ax: Axes, samples: Sequence[ServerSample], interval: float) -> None:
    ax.plot(
        *series.samples(samples, lambda s: _mib(s.rss_bytes), interval),
        label="server RSS",
        color="#8c564b",
    )
    ax.set_ylabel("RSS (MiB)")


def _count_panel(
    ax: Axes, samples: Sequence[ServerSample], interval: float, name: str, ylabel: str
) -> None:
    ax.plot(*series.samples(samples, lambda s: getattr(s, name), interval), label=f"server {name}")
    ax.set_ylabel(ylabel)
    charts.integer_axis(ax)


def _connections_panel(
    ax: Axes, rows: Sequence[TimeseriesRow], samples: Sequence[ServerSample], interval: float
) -> None:
    if _has(samples, "connections"):
        line = series.samples(samples, lambda s: s.connections, interval)
        ax.plot(*line, label="server's connections", color="#17becf", lw=1.6)
    if rows:
        line = series.count(rows, "connections")
        ax.plot(*line, label="clients' connections", color="#7f7f7f", ls="--", lw=1.4)
    ax.set_ylabel("Connections (count)")
    charts.integer_axis(ax)


def connections_over_time(rows: Sequence[TimeseriesRow], storm: Storm | None) -> Figure:
    """Open connections, then connects and reconnects per second; a storm and the moments 99%
    and all of its users were back are marked on both panels."""
    panels: list[Panel] = [
        lambda ax: _open_panel(ax, rows),
        lambda ax: _connects_panel(ax, rows),
    ]
    fig = stacked("Connections and reconnects over time", panels, rows)
    if storm is not None:
        _mark_storm_everywhere(fig, storm)
    return fig


def _open_panel(ax: Axes, rows: Sequence[TimeseriesRow]) -> None:
    ax.plot(*series.count(rows, "connections"), label="open connections", color="#7f7f7f")
    ax.set_ylabel("Connections (count)")
    charts.integer_axis(ax)


def _connects_panel(ax: Axes, rows: Sequence[TimeseriesRow]) -> None:
    connects = series.count(rows, "connects")
    ax.bar(connects.x, connects.y, width=0.9, align="edge", label="connects/s", color="#2ca02c")
    reconnects = series.count(rows, "reconnects")
    ax.step(*reconnects, where="post", label="reconnects/s", color="#ff7f0e", lw=1.6)
    ax.set_ylabel("Per second (count)")
    charts.integer_axis(ax)


def storm_marks(storm: Storm) -> list[tuple[float, str, str]]:
    """(time, label, line style) of the storm and of the recoveries it reached."""
    missing = "" if storm.back_100_s is not None else ", not all back by the end"
    cause = " (server restart)" if telemetry.storm_cause(storm) == "restart" else ""
    marks = [(storm.at_s, f"{STORM_LABEL}{cause}: {storm.dropped:,} dropped{missing}", "-")]
    for back, what, style in ((storm.back_99_s, "99%", "--"), (storm.back_100_s, "all", ":")):
        if back is not None:
            marks.append((storm.at_s + back, f"{what} back after {back:g} s", style))
    return marks


def mark_storm(ax: Axes, storm: Storm, legend: bool = True) -> None:
    """Vertical lines at the storm and at the 99% and 100% recoveries, inside the x axis (a
    recovery after the last row would fall off the chart)."""
    marks = storm_marks(storm)
    for t, label, style in marks:
        ax.axvline(t, color="#222222", ls=style, lw=1.3, label=label if legend else "_" + label)
    left, right = ax.get_xlim()
    ax.set_xlim(min(left, marks[0][0] - 0.5), max(right, max(t for t, _, _ in marks) + 0.5))


def compare_server(runs: Mapping[str, tuple[Sequence[TimeseriesRow], ServerTelemetry]]) -> Figure:
    """Both runs' fan-out p99, server CPU and server RSS, overlaid panel by panel."""
    p99 = [
        (label, series.latency(rows, "p99", charts.US_PER_MS)) for label, (rows, _) in runs.items()
    ]
    cpu = [
        (label, series.samples(s.timeseries, lambda x: x.cpu, s.interval_s))
        for label, (_, s) in runs.items()
    ]
    rss = [
        (label, series.samples(s.timeseries, lambda x: _mib(x.rss_bytes), s.interval_s))
        for label, (_, s) in runs.items()
    ]
    panels: list[Panel] = [
        lambda ax: _overlay(ax, p99, "Fan-out p99 (ms)"),
        lambda ax: _overlay(ax, cpu, "CPU (% of a core)"),
        lambda ax: _overlay(ax, rss, "RSS (MiB)"),
    ]
    return stacked("Server under test: BASE vs NEW", panels, [])


def _mib(value: int | None) -> float | None:
    return None if value is None else value / MIB


def _overlay(ax: Axes, lines: Sequence[tuple[str, series.Series]], ylabel: str) -> None:
    for label, line in lines:
        ax.plot(line.x, line.y, label=label, lw=1.4)
    ax.set_ylabel(ylabel)
