"""The charts of a report: each function returns a matplotlib Figure (Agg canvas, no pyplot).

Latencies arrive in microseconds and are drawn in milliseconds. Charts on a time axis shade the
seconds where the load generator saturated (red) and the churn bursts (grey), because a latency
spike in those seconds may be the harness's doing, not the server's. Seconds with nothing to
measure are gaps in a line (NaN, `reports.series`), never zeros.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hdrh.histogram import HdrHistogram
from matplotlib.axes import Axes
from matplotlib.axis import XAxis, YAxis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, MaxNLocator

from harness.results import LatencySummary, TimeseriesRow
from reports import hdr, series
from reports.data import Interval

US_PER_MS = 1000.0
PERCENTILES = ("p50", "p90", "p99", "max")
COLORS = {"p50": "#1f77b4", "p90": "#2ca02c", "p99": "#ff7f0e", "max": "#d62728"}
LEDGER = (
    ("lost", "lost", "#d62728"),
    ("duplicated", "duplicated", "#9467bd"),
    ("out_of_order", "out of order", "#ff7f0e"),
    ("leave_missing", "leave missing", "#8c564b"),
)
ENDED = (  # drawn only when the run had any: a healthy run has none
    ("server_closes", "server closes", "#e377c2"),
    ("connections_lost", "connections lost", "#7f7f7f"),
    ("protocol_errors", "protocol errors", "#17becf"),
)
SATURATED_LABEL = "generator saturated"
CHURN_LABEL = "churn burst"
TIME_LABEL = "Time since start (s)"
LATENCY_LABEL = "Latency (ms)"
# Latency lines spanning more than this ratio (max / smallest) get a log y axis.
_LOG_Y_SPAN = 30.0


class PlainLogFormatter(LogFormatter):
    """Log-axis labels in plain numbers (2, 30, 0.5), never 2x10^0: matplotlib picks which
    ticks get a label (all decades, and minor ticks when the axis spans little), we the text."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        """'' where matplotlib would leave the tick unlabelled, else the value as '%g'."""
        return f"{x:g}" if super().__call__(x, pos) else ""


def plain_log_axis(axis: XAxis | YAxis) -> None:
    """Label a log axis in plain numbers, major and minor ticks alike."""
    axis.set_major_formatter(PlainLogFormatter(labelOnlyBase=False))
    axis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False))


def integer_axis(ax: Axes) -> None:
    """A count axis: whole-number ticks, from 0 to at least 1 (an empty chart too)."""
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))


def new_figure(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Axes]:
    """A figure with one axes, styled alike for every chart."""
    fig = Figure(figsize=(9, 4.5), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=13, loc="left", fontweight="bold")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def mark_time_events(ax: Axes, rows: Sequence[TimeseriesRow], legend: bool = True) -> None:
    """Shade the seconds where the generator saturated (red) and the churn bursts (grey): one
    band per burst, one legend entry for each kind (none without `legend`)."""
    _shade(ax, series.churn_spans(rows), CHURN_LABEL, "#7f7f7f", legend)
    _shade(ax, series.saturated_spans(rows), SATURATED_LABEL, "#d62728", legend)


def _shade(ax: Axes, spans: Sequence[series.Span], label: str, color: str, legend: bool) -> None:
    for n, span in enumerate(spans):
        name = label if n == 0 and legend else "_" + label
        ax.axvspan(span.start, span.end, color=color, alpha=0.15, lw=0, label=name)


def latency_over_time(rows: Sequence[TimeseriesRow], intervals: Sequence[Interval] = ()) -> Figure:
    """Fan-out latency percentiles per second: from the timeseries, else from the hlog intervals."""
    fig, ax = new_figure("Fan-out latency over time", TIME_LABEL, LATENCY_LABEL)
    lines = _percentile_series(rows, intervals)
    for name, line in lines.items():
        ax.plot(line.x, line.y, label=name, color=COLORS[name], lw=1.6)
    latency_scale(ax, [v for line in lines.values() for v in line.y])
    whole_run(ax, [t for line in lines.values() for t in line.x])
    mark_time_events(ax, rows)
    legend(ax)
    return fig


def whole_run(ax: Axes, times: Sequence[float]) -> None:
    """An x axis over every second of the run: matplotlib's autoscale skips NaN, so trailing
    gaps (the drain) would otherwise fall off the chart."""
    if times:
        first, last = min(times), max(times)
        margin = max(0.5, (last - first) * 0.02)
        ax.set_xlim(first - margin, last + margin)


def latency_scale(ax: Axes, values: Sequence[float]) -> None:
    """A log y axis (plain labels) when the latencies span more than _LOG_Y_SPAN."""
    seen = [v for v in values if v > 0]  # NaN compares false: gaps drop out
    if seen and max(seen) / min(seen) > _LOG_Y_SPAN:
        ax.set_yscale("log")
        plain_log_axis(ax.yaxis)
        ax.set_ylabel("Latency (ms, log scale)")


def _percentile_series(
    rows: Sequence[TimeseriesRow], intervals: Sequence[Interval]
) -> dict[str, series.Series]:
    """p50/p90/p99/max per second in ms, NaN in seconds without a delivery."""
    if rows:
        return {name: series.latency(rows, name, US_PER_MS) for name in PERCENTILES}
    levels = {"p50": 50.0, "p90": 90.0, "p99": 99.0}
    lines = {}
    for name in PERCENTILES:
        by_second = {int(i.t): _interval_value(i, levels.get(name)) / US_PER_MS for i in intervals}
        x = series.grid(by_second)
        lines[name] = series.Series(x, [by_second.get(int(t), series.NAN) for t in x])
    return lines


def _interval_value(interval: Interval, level: float | None) -> float:
    h = interval.histogram
    if h.get_total_count() == 0:
        return series.NAN
    return float(h.get_max_value()) if level is None else hdr.value_at(h, level)


def distribution(histograms: Mapping[str, HdrHistogram], title: str = "") -> Figure:
    """Whole-run latency by percentile, HdrHistogram style: x = 1/(1-q) on a log axis."""
    fig, ax = new_figure(title or "Fan-out latency distribution", "Percentile", LATENCY_LABEL)
    widest = 10.0
    for label, histogram in histograms.items():
        curve = hdr.percentile_curve(histogram)
        ax.plot(curve.x, [v / US_PER_MS for v in curve.y], label=label, lw=1.8)
        widest = max([widest, *curve.x])
    _percentile_axis(ax, widest)
    legend(ax)
    return fig


def p99_over_time(runs: Mapping[str, Sequence[TimeseriesRow]], title: str = "") -> Figure:
    """The per-second fan-out p99 of several runs on one time axis."""
    fig, ax = new_figure(title or "Fan-out p99 over time", TIME_LABEL, LATENCY_LABEL)
    for label, rows in runs.items():
        line = series.latency(rows, "p99", US_PER_MS)
        ax.plot(line.x, line.y, label=label, lw=1.6)
    whole_run(ax, [r.t for rows in runs.values() for r in rows])
    ax.set_ylim(bottom=0)
    legend(ax)
    return fig


def _percentile_axis(ax: Axes, widest: float) -> None:
    ax.set_xscale("log")
    ticks = [q for q in hdr.PERCENTILE_TICKS if hdr.percentile_x(q) <= widest * 1.5]
    ax.set_xticks([hdr.percentile_x(q) for q in ticks], [hdr.percentile_label(q) for q in ticks])
    ax.minorticks_off()
    ax.set_xlim(1, widest * 1.1)


def latency_histogram(histogram: HdrHistogram) -> Figure:
    """How many deliveries took how long, on logarithmic latency bins."""
    fig, ax = new_figure("Fan-out latency histogram", LATENCY_LABEL, "Deliveries (count)")
    bins = hdr.log_bins(histogram)
    if bins.counts:
        edges = [e / US_PER_MS for e in bins.edges]
        ax.stairs(bins.counts, edges, fill=True, alpha=0.7, color="#1f77b4", label="fan-out")
        ax.set_xscale("log")
        plain_log_axis(ax.xaxis)
    for name in ("p50", "p99"):
        value = hdr.value_at(histogram, 50.0 if name == "p50" else 99.0) / US_PER_MS
        ax.axvline(value, color=COLORS[name], ls="--", lw=1.2, label=f"{name} = {value:.3g} ms")
    legend(ax)
    return fig


def throughput(rows: Sequence[TimeseriesRow]) -> Figure:
    """Messages sent and delivered per second, with the active connections on a second axis."""
    fig, ax = new_figure("Messages per second", TIME_LABEL, "Messages per second (msg/s)")
    for name, label, color in (
        ("sent", "sent/s", "#1f77b4"),
        ("delivered", "delivered/s", "#2ca02c"),
    ):
        ax.plot(*series.count(rows, name), label=label, color=color, lw=1.6)
    right = ax.twinx()
    right.plot(*series.count(rows, "connections"), label="connections", color="#7f7f7f", ls="--")
    right.set_ylabel("Active connections (count)")
    integer_axis(right)
    right.spines[["top"]].set_visible(False)
    ax.set_ylim(bottom=0)
    mark_time_events(ax, rows)
    handles, labels = ax.get_legend_handles_labels()
    more, more_labels = right.get_legend_handles_labels()
    # Below the axes: the twin axes would draw its line over a legend placed inside.
    fig.legend(
        handles + more, labels + more_labels, loc="outside lower center", ncols=5, fontsize=9
    )
    return fig


def ledger_events(rows: Sequence[TimeseriesRow]) -> Figure:
    """Per-second delivery problems as stacked bars: lost, duplicated, out of order, leaves,
    and the connections the server ended (when there were any)."""
    fig, ax = new_figure("Delivery ledger events per second", TIME_LABEL, "Events (count)")
    times = [r.t for r in rows]
    bottom = [0.0] * len(rows)
    ended = [e for e in ENDED if any(getattr(r, e[0]) for r in rows)]
    for field, name, color in (*LEDGER, *ended):
        counts = [float(getattr(r, field)) for r in rows]
        label = f"{name} ({sum(counts):g} total)"
        ax.bar(times, counts, width=0.8, bottom=bottom, align="edge", label=label, color=color)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    if not any(bottom):
        ax.text(0.5, 0.5, "No delivery problems recorded", transform=ax.transAxes, ha="center")
    integer_axis(ax)
    mark_time_events(ax, rows)
    legend(ax)
    return fig


def latency_by_room_size(by_size: Mapping[str, LatencySummary]) -> Figure:
    """Grouped bars of p50/p90/p99/max for each room size."""
    fig, ax = new_figure("Fan-out latency by room size", "Room size (members)", LATENCY_LABEL)
    sizes = sorted(by_size, key=_size_key)
    width = 0.8 / len(PERCENTILES)
    for n, name in enumerate(PERCENTILES):
        xs = [i + (n - 1.5) * width for i in range(len(sizes))]
        values = [float(getattr(by_size[s], name)) / US_PER_MS for s in sizes]
        bars = ax.bar(xs, values, width=width, label=name, color=COLORS[name])
        ax.bar_label(bars, fmt="%.3g", fontsize=8, padding=2)
    ax.set_xticks(range(len(sizes)), sizes)
    ax.grid(False, axis="x")
    legend(ax)
    return fig


def _size_key(size: str) -> tuple[int, float, str]:
    try:
        return (0, float(size), size)
    except ValueError:
        return (1, 0.0, size)


def legend(ax: Axes) -> None:
    """The axes' legend, where it hides the least, when anything is labelled."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=9, framealpha=0.9)
