"""Number formatting shared by the HTML page and the Markdown summary."""

from __future__ import annotations

import math

from harness.results import LatencySummary, LoadResults

LATENCY_FIELDS = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"), ("max", "max"))


def ms(us: float) -> str:
    """Microseconds as milliseconds with three significant digits or so: '3.48 ms'."""
    value = us / 1000.0
    if value >= 100:
        return f"{value:,.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def count(value: float) -> str:
    """An integer count with thousands separators."""
    return f"{value:,.0f}"


def signed(value: float, unit: str = "") -> str:
    """A change with its sign: '+12', '-3.5 ms'."""
    text = f"{value:+,.0f}" if float(value).is_integer() else f"{value:+,.2f}"
    return f"{text}{unit}"


def percent(value: float | None) -> str:
    """A relative change: '+12.3%', or '—' when there is no base to compare with."""
    return "—" if value is None else f"{value * 100:+.1f}%"


def latency_row(summary: LatencySummary) -> list[str]:
    """p50, p90, p99, p99.9, max and mean of one distribution, formatted."""
    return [ms(getattr(summary, f)) for f, _ in LATENCY_FIELDS] + [ms(summary.mean)]


def problems(results: LoadResults) -> dict[str, int]:
    """The counters that should all be zero in a healthy run (SLO metric names)."""
    d, c, conns = results.deliveries, results.cleanup, results.connections
    return {
        "lost": d.lost,
        "duplicated": d.duplicated,
        "out_of_order": d.out_of_order,
        "leaked": d.leaked,
        "leave_missing": c.leave_missing,
        "online_mismatches": c.online_mismatches,
        "server_closes": sum(conns.server_closes.values()),
        "connections_lost": conns.lost,
        "protocol_errors": sum(conns.protocol_errors.values()),
        "unsent": results.sends.unsent,
    }


def by_code(counts: dict[str, int]) -> str:
    """Counts by close code: '12 (1011 x12)', or '0'."""
    total = sum(counts.values())
    if not total:
        return "0"
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return f"{total:,} (" + ", ".join(f"{code} x{n:,}" for code, n in ranked) + ")"


def connection_rows(results: LoadResults) -> list[list[str]]:
    """How the connections went and what was sent, as (label, value) rows."""
    c, s = results.connections, results.sends
    return [
        ["connections opened", count(c.opened)],
        ["welcomed", count(c.welcomed)],
        ["closed by the server", by_code(c.server_closes)],
        ["lost (no close frame)", count(c.lost)],
        ["protocol errors", by_code(c.protocol_errors)],
        ["reconnects", count(c.reconnects)],
        ["seconds under the planned connections", count(c.under_planned_s)],
        ["messages scheduled", count(s.scheduled)],
        ["messages sent", count(s.sent)],
        ["unsent (sender had no connection)", count(s.unsent)],
    ]


def saturated_seconds(results: LoadResults) -> list[float]:
    """Seconds of the run where the load generator itself was saturated."""
    return [row.t for row in results.timeseries if row.saturated]


def stat(text: str) -> str:
    """A Locust CSV cell: numbers rounded for reading ('3.1874000000000002' -> '3.19',
    '12345' -> '12,345'), anything else as it is."""
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        return text
    if value.is_integer() or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"


def delivered_label(results: LoadResults) -> str:
    """What `delivered` counts: the sender's own copy too, where the server echoes (so it is
    more than the fan-out latency count, which is the other members' copies only)."""
    if (results.config.get("profile") or {}).get("echo", True) is False:
        return "delivered (this server echoes no sender's own copy)"
    return "delivered (incl. each sender's own copy)"


def latency_rows(results: LoadResults) -> list[tuple[str, str, LatencySummary]]:
    """(name, what a sample is, summary) of each latency the run measured: fan-out, round
    trip, and connect latency when the run recorded any."""
    rows = [
        ("fan-out", "deliveries to other members", results.fanout_latency_us),
        ("round trip", "senders' own copies", results.rtt_latency_us),
    ]
    if results.connect_latency_us.count:
        rows.append(("connect", "connections", results.connect_latency_us))
    return rows


def incomplete(results: LoadResults) -> str:
    """ "incomplete run: ..." for a run stopped early (a signal, a missing worker), else ""."""
    cfg = results.config
    if not cfg.get("incomplete"):
        return ""
    planned = float(cfg.get("planned_duration_s") or 0)
    had = float(cfg.get("duration_s") or 0)
    of = f" of {planned:g} s planned" if planned else ""
    return f"incomplete run: {had:g} s of sending{of}; the figures cover only what was collected"
