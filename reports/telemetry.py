"""The server's figures, the leak verdict and the reconnect storm as text, shared by the HTML
page and the Markdown summary.

A leak verdict is said as it is: "leak", "no leak found" only for verdict "none", and "unknown"
with its reason; an unknown verdict is never shown as no leak.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.results import LeakVerdict, ServerSample, ServerTelemetry, Storm
from reports import fmt

NOT_MEASURED = "not measured"


def size(value: float) -> str:
    """Bytes in binary units: '512 B', '48.2 KiB', '45.1 MiB', '1.2 GiB', '300 MiB'."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(value) >= scale:
            scaled = value / scale
            return f"{scaled:.3g} {unit}" if abs(scaled) < 100 else f"{scaled:,.0f} {unit}"
    return f"{value:,.0f} B"


def leak_line(leak: LeakVerdict) -> str:
    """The verdict in one line: 'leak: 48.2 KiB ± 2.88 KiB (95% CI) per churned connection
    over 78 churned connections; descriptors +78'."""
    if leak.verdict == "unknown":
        return f"leak verdict unknown: {leak.reason or 'no reason recorded'}"
    head = "leak" if leak.verdict == "leak" else "no leak found"
    churned = fmt.count(leak.churned_connections)
    amount = (
        "bytes per churned connection not measured"
        if leak.bytes_per_churned_conn is None
        else f"{per_conn(leak)} per churned connection"
    )
    return f"{head}: {amount} over {churned} churned connections; descriptors {fd_growth(leak)}"


def per_conn(leak: LeakVerdict) -> str:
    """Bytes retained per churned connection with its 95% confidence half-width."""
    if leak.bytes_per_churned_conn is None:
        return NOT_MEASURED
    text = size(leak.bytes_per_churned_conn)
    if leak.ci95_bytes is not None:
        text += f" ± {size(leak.ci95_bytes)} (95% CI)"
    return text


def fd_growth(leak: LeakVerdict) -> str:
    """'+78', '+0', or 'not measured'."""
    return NOT_MEASURED if leak.fd_growth is None else fmt.signed(leak.fd_growth)


def fds_span(leak: LeakVerdict) -> str:
    """' (14 before the run, 14 after)', or '' when either is unknown."""
    if leak.fds_before is None or leak.fds_after is None:
        return ""
    return f" ({fmt.count(leak.fds_before)} before the run, {fmt.count(leak.fds_after)} after)"


def leak_kind(leak: LeakVerdict) -> str:
    """Badge kind: bad for a leak or descriptors left open, warn for unknown, ok for none."""
    if leak.verdict == "leak" or (leak.fd_growth or 0) > 0:
        return "bad"
    return "warn" if leak.verdict == "unknown" else "ok"


def _peak(
    samples: Sequence[ServerSample], value: Callable[[ServerSample], float | None]
) -> float | None:
    seen = [v for s in samples if (v := value(s)) is not None]
    return max(seen) if seen else None


def cpu_max(server: ServerTelemetry) -> float | None:
    """The highest CPU sample, percent of one core."""
    return _peak(server.timeseries, lambda s: s.cpu)


def rss_max(server: ServerTelemetry) -> float | None:
    """The highest RSS sample, bytes."""
    return _peak(server.timeseries, lambda s: s.rss_bytes)


def server_rows(server: ServerTelemetry) -> list[list[str]]:
    """Source, samples, peaks, the leak verdict and failed samples as (label, value) rows."""
    fds = _peak(server.timeseries, lambda s: s.fds)
    conns = _peak(server.timeseries, lambda s: s.connections)
    cpu, rss, leak = cpu_max(server), rss_max(server), server.leak
    rows = [
        ["source", server.source],
        ["samples", f"{len(server.timeseries):,} (every {server.interval_s:g} s)"],
        ["CPU max (% of one core)", NOT_MEASURED if cpu is None else f"{cpu:.0f}%"],
        ["RSS max", NOT_MEASURED if rss is None else size(rss)],
        ["open descriptors max", NOT_MEASURED if fds is None else fmt.count(fds)],
        ["connections max (server's count)", NOT_MEASURED if conns is None else fmt.count(conns)],
        ["leak verdict", leak.verdict if leak.verdict != "none" else "none (no leak found)"],
        ["why", leak.reason or "—"],
        ["churned connections after warm-up", fmt.count(leak.churned_connections)],
        ["bytes retained per churned connection", per_conn(leak)],
        ["descriptors left open after the run (fd growth)", fd_growth(leak) + fds_span(leak)],
    ]
    if server.errors:
        rows.append(["failed samples (first)", "; ".join(server.errors[:3])])
    return rows


def back_after(seconds: float | None) -> str:
    """'3.4 s after the drop' or 'not within the run'."""
    return "not within the run" if seconds is None else f"{seconds:g} s after the drop"


def storm_cause(storm: Storm) -> str:
    """ "drop" (`--storm-at`) or "restart" (`--restart-at`); results before the field: drop."""
    return storm.cause


def storm_rows(storm: Storm) -> list[list[str]]:
    """When, how many, how fast they came back and what the storm cost, as rows."""
    when = (
        "server restart asked at" if storm_cause(storm) == "restart" else "connections dropped at"
    )
    back = storm.back
    rows = [
        [when, f"{storm.at_s:g} s"],
        ["users dropped", fmt.count(storm.dropped)],
    ]
    if back is not None:
        rows.append(["users back", f"{back:,} of {storm.dropped:,}"])
    rows += [
        ["99% back", back_after(storm.back_99_s)],
        ["all back", back_after(storm.back_100_s)],
        ["failed reconnect handshakes", fmt.by_code(storm.failed_handshakes)],
        ["messages lost across the storm", fmt.count(storm.lost)],
        ["left announcements seen / owed", f"{storm.left_seen:,} / {storm.left_owed:,}"],
        ["joined announcements seen / owed", f"{storm.joined_seen:,} / {storm.joined_owed:,}"],
    ]
    return rows


def metric_rows(server: ServerTelemetry) -> list[list[str]]:
    """Each scraped gauge or counter by name: samples, min, max, last value, and for a counter
    (a name ending in `_total`, recorded cumulative) its mean rate over the run."""
    names = sorted({name for s in server.timeseries for name in s.metrics})
    rows = []
    for name in names:
        seen = [(s.t, s.metrics[name]) for s in server.timeseries if name in s.metrics]
        values = [v for _, v in seen]
        shown = [fmt.stat(repr(v)) for v in (min(values), max(values), values[-1])]
        rows.append([name, fmt.count(len(values)), *shown, _rate(name, seen)])
    return rows


def _rate(name: str, seen: list[tuple[float, float]]) -> str:
    base = name.split("{", 1)[0]
    (t0, v0), (t1, v1) = seen[0], seen[-1]
    if not base.endswith("_total") or t1 <= t0:
        return "—"
    return fmt.stat(repr((v1 - v0) / (t1 - t0)))


METRIC_HEADER = ["metric", "samples", "min", "max", "last", "rate/s (counters)"]
