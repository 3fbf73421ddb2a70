"""The self-contained HTML page of a load run or a comparison (charts inline as SVG)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from string import Template

from harness.results import LoadResults
from reports import fmt, telemetry
from reports.compare import Comparison
from reports.data import LoadRun
from reports.output import Rendered

_TEMPLATE = Path(__file__).with_name("page.html")


def render(title: str, body: str) -> str:
    """The page template (reports/page.html) filled in."""
    template = Template(_TEMPLATE.read_text(encoding="utf-8"))
    return template.substitute(title=escape(title), body=body)


def table(header: Sequence[str], rows: Iterable[Sequence[str]], text_cols: int = 1) -> str:
    """An HTML table; the first `text_cols` columns are left-aligned text, the rest numbers."""
    head = "".join(
        f'<th class="text">{escape(h)}</th>' if i < text_cols else f"<th>{escape(h)}</th>"
        for i, h in enumerate(header)
    )
    body = []
    for row in rows:
        cells = [
            f'<td class="text">{escape(str(c))}</td>'
            if i < text_cols
            else f"<td>{escape(str(c))}</td>"
            for i, c in enumerate(row)
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    # Wide tables (Locust's 20-odd columns) scroll inside the page instead of overflowing it.
    html = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="scroll">{html}</div>'


def badge(text: str, kind: str) -> str:
    """A rounded label: kind is ok, bad or warn."""
    return f'<span class="badge {kind}">{escape(text)}</span>'


def figure(chart: Rendered) -> str:
    """A chart inline as SVG with its caption."""
    caption = f"<figcaption>{escape(chart.caption)}</figcaption>"
    return f'<figure id="{escape(chart.name)}">{chart.svg}{caption}</figure>'


def header(title: str, source: str) -> str:
    """Title and where the data came from."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f'<h1>{escape(title)}</h1><p class="meta">{escape(source)} · generated {when}</p>'


def load_page(run: LoadRun, charts: Sequence[Rendered]) -> str:
    """Badges, summary tables, SLO verdicts, charts, configuration and Locust stats."""
    r = run.results
    parts = [header("chatbench load report", str(run.source)), badges(r)]
    parts += ["<h2>Summary</h2>", latency_table(r), deliveries_table(r)]
    parts += ["<h2>Connections</h2>", table(["connections", "count"], fmt.connection_rows(r))]
    parts += server_section(r)
    if r.storm is not None:
        storm_table = table(["reconnect storm", "value"], telemetry.storm_rows(r.storm))
        parts += ["<h2>Reconnect storm</h2>", storm_table]
    parts.append(slo_table(r))
    parts += ["<h2>Charts</h2>", *(figure(c) for c in charts)]
    if r.by_room_size:
        rows = [[size, *fmt.latency_row(s)] for size, s in r.by_room_size.items()]
        head = ["room size", *(label for _, label in fmt.LATENCY_FIELDS), "mean"]
        parts += ["<h2>Fan-out latency by room size</h2>", table(head, rows)]
    parts += ["<h2>Run configuration</h2>", config_table(r)]
    if run.locust_stats:
        head = list(run.locust_stats[0])
        rows = [[fmt.stat(row.get(h) or "") for h in head] for row in run.locust_stats]
        parts += ["<h2>Locust statistics</h2>", table(head, rows, text_cols=2)]
    return render("chatbench load report", "\n".join(parts))


def badges(r: LoadResults) -> str:
    """SLO verdict, delivery problems and generator saturation at a glance."""
    items = [badge(f"broken run: {reason}", "bad") for reason in r.broken]
    if fmt.incomplete(r):
        items.append(badge(fmt.incomplete(r), "bad"))
    if r.slo:
        met = sum(s.ok for s in r.slo)
        items.append(badge(f"SLO {met}/{len(r.slo)} met", "ok" if met == len(r.slo) else "bad"))
    bad = {k: v for k, v in fmt.problems(r).items() if v}
    items += [badge(f"{k.replace('_', ' ')}: {v:,}", "bad") for k, v in bad.items()]
    if not bad:
        items.append(badge("no delivery problems", "ok"))
    seconds = fmt.saturated_seconds(r)
    if seconds or r.generator.saturated:
        at = ", ".join(f"{t:g} s" for t in seconds) or "during the run"
        items.append(badge(f"load generator saturated at {at}", "warn"))
    if r.server is not None:
        leak = r.server.leak
        items.append(badge(f"server: {telemetry.leak_line(leak)}", telemetry.leak_kind(leak)))
    return f'<div class="badges">{"".join(items)}</div>'


def server_section(r: LoadResults) -> list[str]:
    """The server's figures and the leak verdict (nothing without server telemetry)."""
    if r.server is None:
        return []
    rows = telemetry.server_rows(r.server)
    parts = ["<h2>Server under test</h2>", table(["server", "value"], rows, text_cols=2)]
    metrics = telemetry.metric_rows(r.server)
    if metrics:
        parts.append(table(telemetry.METRIC_HEADER, metrics))
    return parts


def latency_table(r: LoadResults) -> str:
    """Fan-out, round-trip and connect-latency percentiles."""
    head = ["latency", "count", *(label for _, label in fmt.LATENCY_FIELDS), "mean"]
    rows = [
        [f"{name} ({what})", fmt.count(s.count), *fmt.latency_row(s)]
        for name, what, s in fmt.latency_rows(r)
    ]
    return table(head, rows)


def deliveries_table(r: LoadResults) -> str:
    """The delivery ledger, cleanup and generator counters."""
    d, c, g = r.deliveries, r.cleanup, r.generator
    rows = [
        ["expected deliveries", fmt.count(d.expected)],
        [fmt.delivered_label(r), fmt.count(d.delivered)],
        *([name.replace("_", " "), fmt.count(v)] for name, v in fmt.problems(r).items()),
        ["replayed history (no deliveries)", fmt.count(d.replayed)],
        ["abrupt disconnects (churn)", fmt.count(c.abrupt_disconnects)],
        ["generator CPU max", f"{g.cpu_max:.0f}%"],
        ["generator saturated", "yes" if g.saturated else "no"],
    ]
    return table(["counter", "value"], rows)


def slo_table(r: LoadResults) -> str:
    """The --slo gates and their verdicts (nothing when there were none)."""
    if not r.slo:
        return ""
    rows = [[s.expr, f"{s.value:g}", "met" if s.ok else "MISSED"] for s in r.slo]
    return "<h2>SLO verdicts</h2>" + table(["gate", "value", "verdict"], rows)


def config_table(r: LoadResults) -> str:
    """The run's configuration as key / JSON value."""
    if not r.config:
        return "<p>No configuration recorded.</p>"
    rows = [[k, v if isinstance(v, str) else json.dumps(v)] for k, v in r.config.items()]
    return table(["setting", "value"], rows, text_cols=2)


def compare_page(comparison: Comparison, base: str, new: str, charts: Sequence[Rendered]) -> str:
    """Verdict, delta table and the overlaid distributions."""
    kind = "bad" if comparison.regressed else "ok"
    parts = [header("chatbench compare", f"BASE {base} · NEW {new}")]
    warnings = "".join(badge(f"warning: {w}", "warn") for w in comparison.warnings)
    parts.append(f'<div class="badges">{badge(comparison.verdict(), kind)}{warnings}</div>')
    rows = [[*d.cells(), "REGRESSED" if d.regressed else ""] for d in comparison.deltas]
    head = ["metric", "base", "new", "change", "relative", "verdict"]
    parts += ["<h2>Deltas</h2>", table(head, rows)]
    if comparison.facts:
        parts.append(table(["also compared", "base", "new"], comparison.facts, text_cols=3))
    parts += [figure(c) for c in charts]
    return render("chatbench compare", "\n".join(parts))
