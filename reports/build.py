"""Write a report directory: charts (PNG + SVG), index.html and summary.md.

Entry points: `load_report`, `check_report` and `compare_report`; each returns the files written.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from harness.results import CheckResults
from reports import charts, markdown, page, timecharts
from reports.compare import Comparison, compare
from reports.conformance import render_check_html
from reports.data import LoadRun
from reports.output import Rendered, prepare, render, write_chart, write_text

CAPTIONS = {
    "latency_over_time": "Per-second fan-out latency percentiles; a gap is a second without "
    "a delivery. Red bands: the load generator was saturated; grey bands: churn bursts "
    "(abrupt disconnects).",
    "latency_distribution": "The whole run's fan-out latency at every percentile; read up "
    "from 99% to see what one delivery in a hundred waited. The line ends at the maximum.",
    "latency_histogram": "How many deliveries took how long (logarithmic bins); dashed lines "
    "mark p50 and p99.",
    "throughput": "Messages sent and delivered per second (left axis) and open connections "
    "(right axis, dashed).",
    "ledger_events": "Delivery problems per second, stacked: lost, duplicated, out-of-order "
    "deliveries, missing leave announcements and connections the server ended (closes, lost "
    "connections, protocol errors). A healthy run shows no bars.",
    "latency_by_room_size": "Fan-out latency percentiles for each room size.",
    "server_over_time": "The server under test on the latency's time axis: fan-out p50/p99, "
    "then the server's CPU (dashed: one core), RSS, open descriptors and connections (its "
    "own count, and the clients' dashed). Grey bands: churn bursts; red: the generator "
    "saturated. Memory and descriptors that climb with each churn burst and never come back "
    "are a leak; gaps are seconds without a sample.",
    "connections_over_time": "Open connections, and connects and reconnects per second: the "
    "ramp, churn and a reconnect storm. Black lines: the storm (solid) and when 99% (dashed) "
    "and all (dotted) of its users were connected again.",
    "connect_distribution": "The whole run's connect latency (TCP connect, WebSocket "
    "handshake and welcome) at every percentile.",
    "compare_distribution": "Both runs' fan-out latency at every percentile: where NEW lies "
    "above BASE, NEW is slower at that percentile.",
    "compare_p99_over_time": "Both runs' per-second fan-out p99: a regression everywhere "
    "points at the server, one in a few seconds at an event of that run.",
    "compare_server_over_time": "Both runs' fan-out p99, server CPU and server RSS on one time "
    "axis (drawn when both runs have server telemetry).",
}


def load_figures(run: LoadRun) -> dict[str, Figure]:
    """Every chart the run has data for, by file name."""
    r = run.results
    figures: dict[str, Figure] = {}
    if r.timeseries or run.intervals:
        figures["latency_over_time"] = charts.latency_over_time(r.timeseries, run.intervals)
        if r.storm is not None:  # the spike after a storm is the reconnects' doing
            ax = figures["latency_over_time"].axes[0]
            timecharts.mark_storm(ax, r.storm)
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    if run.fanout is not None and run.fanout.get_total_count() > 0:
        figures["latency_distribution"] = charts.distribution({"fan-out": run.fanout})
        figures["latency_histogram"] = charts.latency_histogram(run.fanout)
    if r.timeseries:
        figures["throughput"] = charts.throughput(r.timeseries)
        figures["ledger_events"] = charts.ledger_events(r.timeseries)
    if len(r.by_room_size) > 1:
        figures["latency_by_room_size"] = charts.latency_by_room_size(r.by_room_size)
    if r.server is not None and r.server.timeseries:
        server = timecharts.server_over_time(r.timeseries, r.server, r.storm)
        figures["server_over_time"] = server
    if r.timeseries and (r.storm or any(row.connects or row.reconnects for row in r.timeseries)):
        figures["connections_over_time"] = timecharts.connections_over_time(r.timeseries, r.storm)
    if run.connect is not None and run.connect.get_total_count() > 0:
        title = "Connect latency distribution"
        figures["connect_distribution"] = charts.distribution({"connect": run.connect}, title)
    return figures


def _render_all(figures: dict[str, Figure]) -> list[Rendered]:
    return [render(name, fig, CAPTIONS[name]) for name, fig in figures.items()]


def load_report(run: LoadRun, out: Path) -> list[Path]:
    """Charts, index.html and summary.md of a load run."""
    prepare(out)
    rendered = _render_all(load_figures(run))
    written = [p for chart in rendered for p in write_chart(out, chart)]
    written.append(write_text(out, "index.html", page.load_page(run, rendered)))
    written.append(write_text(out, "summary.md", markdown.load_summary(run.results)))
    return written


def check_report(results: CheckResults, out: Path) -> list[Path]:
    """index.html (reports.conformance) and summary.md of a conformance check."""
    prepare(out)
    return [
        write_text(out, "index.html", render_check_html(results)),
        write_text(out, "summary.md", markdown.check_summary(results)),
    ]


def compare_report(
    base: LoadRun, new: LoadRun, out: Path, threshold_pct: float
) -> tuple[Comparison, list[Path]]:
    """Overlaid distributions, the delta table and the verdict of NEW against BASE."""
    prepare(out)
    comparison = compare(base.results, new.results, threshold_pct)
    pair = (("BASE", base), ("NEW", new))
    histograms = {
        f"{label} ({run_name(run)})": run.fanout
        for label, run in pair
        if run.fanout is not None and run.fanout.get_total_count() > 0
    }
    figures = {}
    if histograms:
        title = "Fan-out latency distribution: BASE vs NEW"
        figures["compare_distribution"] = charts.distribution(histograms, title)
    if base.results.timeseries and new.results.timeseries:
        runs = {f"{label} ({run_name(run)})": run.results.timeseries for label, run in pair}
        title = "Fan-out p99 over time: BASE vs NEW"
        figures["compare_p99_over_time"] = charts.p99_over_time(runs, title)
    servers = {
        f"{label} ({run_name(run)})": (run.results.timeseries, run.results.server)
        for label, run in pair
        if run.results.server is not None
    }
    if len(servers) == 2:
        figures["compare_server_over_time"] = timecharts.compare_server(servers)
    rendered = _render_all(figures)
    written = [p for chart in rendered for p in write_chart(out, chart)]
    b, n = str(base.source), str(new.source)
    written.append(write_text(out, "index.html", page.compare_page(comparison, b, n, rendered)))
    written.append(write_text(out, "summary.md", markdown.compare_summary(comparison, b, n)))
    return comparison, written


def run_name(run: LoadRun) -> str:
    """A short name for a run: its directory, or the file name when it is not results.json."""
    source = run.source
    return source.parent.name if source.name == "results.json" else source.name
