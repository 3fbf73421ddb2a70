"""summary.md: a Markdown summary fit for a GitHub Actions job summary ($GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

from collections.abc import Sequence

from harness.results import CheckResults, LoadResults
from reports import fmt, telemetry
from reports.compare import Comparison

VERDICT_MARK = {
    "pass": "✅ pass",
    "fail": "❌ fail",
    "blocked": "🚧 blocked",
    "error": "💥 error",
    "skip": "⏭️ skip",
    "n/a": "◽ n/a",
}


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table; cells are escaped and kept on one line."""
    lines = [_row(header), "|" + "---|" * len(header)]
    lines += [_row(row) for row in rows]
    return "\n".join(lines) + "\n"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def load_summary(results: LoadResults, title: str = "chatbench load report") -> str:
    """Headline, latency, deliveries, cleanup, SLO verdicts and per-room-size latency."""
    parts = [f"## {title}\n", headline(results) + "\n", latency_table(results)]
    d, c = results.deliveries, results.cleanup
    counts = [d.expected, d.delivered, d.lost, d.duplicated, d.out_of_order, d.leaked, d.replayed]
    header = ["expected", fmt.delivered_label(results), "lost", "duplicated", "out of order"]
    header += ["leaked", "replayed"]
    parts.append(table(header, [[fmt.count(v) for v in counts]]))
    cleanup = [c.abrupt_disconnects, c.leave_missing, c.online_mismatches]
    header = ["abrupt disconnects", "leave missing", "online mismatches"]
    parts.append(table(header, [[fmt.count(v) for v in cleanup]]))
    parts.append(table(["connections", "count"], fmt.connection_rows(results)))
    if results.server is not None:
        rows = telemetry.server_rows(results.server)
        parts.append("### Server under test\n\n" + table(["server", "value"], rows))
        metrics = telemetry.metric_rows(results.server)
        if metrics:
            parts.append(table(telemetry.METRIC_HEADER, metrics))
    if results.storm is not None:
        rows = telemetry.storm_rows(results.storm)
        parts.append("### Reconnect storm\n\n" + table(["reconnect storm", "value"], rows))
    if results.slo:
        rows = [
            [f"`{s.expr}`", f"{s.value:g}", "✅ met" if s.ok else "❌ missed"] for s in results.slo
        ]
        parts.append("### SLO\n\n" + table(["gate", "value", "verdict"], rows))
    if len(results.by_room_size) > 1:
        rows = [[size, *fmt.latency_row(s)] for size, s in results.by_room_size.items()]
        header = ["room size", *(label for _, label in fmt.LATENCY_FIELDS), "mean"]
        parts.append("### Fan-out latency by room size\n\n" + table(header, rows))
    return "\n".join(parts)


def headline(results: LoadResults) -> str:
    """One line: SLO count, problem counters that are not zero, generator saturation."""
    bits = [f"❌ **broken run: {reason}**" for reason in results.broken]
    if fmt.incomplete(results):
        bits.append(f"❌ **{fmt.incomplete(results)}**")
    if results.slo:
        met = sum(s.ok for s in results.slo)
        mark = "✅" if met == len(results.slo) else "❌"
        bits.append(f"{mark} **SLO {met}/{len(results.slo)} met**")
    bad = {k: v for k, v in fmt.problems(results).items() if v}
    if bad:
        bits.append("❌ " + ", ".join(f"**{k.replace('_', ' ')} {v:,}**" for k, v in bad.items()))
    else:
        bits.append("✅ no lost, duplicated, out-of-order or leaked deliveries")
    seconds = fmt.saturated_seconds(results)
    if seconds or results.generator.saturated:
        at = ", ".join(f"{t:g} s" for t in seconds) or "some seconds"
        bits.append(f"⚠️ load generator saturated at {at}: latencies there are suspect")
    if results.server is not None:
        leak = results.server.leak
        mark = {"bad": "❌", "warn": "⚠️", "ok": "✅"}[telemetry.leak_kind(leak)]
        bits.append(f"{mark} server {telemetry.leak_line(leak)}")
    return " · ".join(bits)


def latency_table(results: LoadResults) -> str:
    """Fan-out, round-trip and (when measured) connect latency percentiles."""
    header = ["latency", *(label for _, label in fmt.LATENCY_FIELDS), "mean"]
    units = {"fan-out": "deliveries", "round trip": "messages", "connect": "connections"}
    rows = [
        [f"{name} ({fmt.count(s.count)} {units[name]})", *fmt.latency_row(s)]
        for name, _, s in fmt.latency_rows(results)
    ]
    return table(header, rows)


def check_summary(results: CheckResults) -> str:
    """Verdict counts and a table of clause, level, verdict and reason."""
    s = results.summary
    counts = (
        f"{s.passed} passed, {s.failed} failed, {s.blocked} blocked, {s.errors} errors, "
        f"{s.skipped} skipped, {s.not_applicable} n/a"
    )
    mark = "✅" if results.exit_code == 0 else "❌"
    urls = ", ".join(f"`{u}`" for u in results.urls)
    head = f"## chatbench conformance check\n\n{mark} **{counts}** against {urls}"
    head += f" ({results.duration_s:.1f} s{', strict' if results.strict else ''})\n"
    rows = [
        [f"`{c.id}`", c.level, VERDICT_MARK.get(c.verdict, c.verdict), c.reason]
        for c in results.cases
    ]
    return head + "\n" + table(["clause", "level", "verdict", "reason"], rows)


def compare_summary(comparison: Comparison, base: str, new: str) -> str:
    """The verdict line and the delta table."""
    mark = "❌" if comparison.regressed else "✅"
    head = f"## chatbench compare\n\n{mark} **{comparison.verdict()}**\n\n"
    head += "".join(f"⚠️ **warning: {w}**\n\n" for w in comparison.warnings)
    head += f"BASE `{base}` · NEW `{new}`\n\n"
    rows = [[*d.cells(), "❌" if d.regressed else ""] for d in comparison.deltas]
    text = head + table(["metric", "base", "new", "change", "relative", ""], rows)
    if comparison.facts:
        text += "\n" + table(["also compared", "base", "new"], comparison.facts)
    return text
