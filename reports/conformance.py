"""The HTML page of a conformance check: every clause with its verdict, every failure with
its expected/observed and transcript. Self-contained (inline CSS, no scripts, no network).

`chatbench check --html FILE` and `chatbench report CHECK.json` both call `render_check_html`.
"""

from __future__ import annotations

from html import escape

from harness.check.output import clip
from harness.results import CaseResult, CheckResults, TranscriptEntry

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
table{border-collapse:collapse;width:100%}th{background:#f4f4f4}
td,th{padding:.3em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
code,pre{font:12px/1.4 ui-monospace,monospace}
pre{white-space:pre-wrap;word-break:break-all;background:#f8f8f8;padding:.6em}
.pass{color:#17692d}.fail{color:#b3261e;font-weight:bold}.error{color:#8a4b00;font-weight:bold}
.skip,.na{color:#666}.should{color:#8a6d00}.blocked{color:#6b3fa0;font-weight:bold}
.warn{color:#8a6d00}details{margin:.8em 0;border:1px solid #ddd;padding:.5em}
.send{color:#1a4d8f}.recv{color:#222}.close{color:#b3261e}.note{color:#666;font-style:italic}
"""


def render_check_html(results: CheckResults) -> str:
    """A self-contained HTML page for one check result."""
    status = title(results)
    head = (
        f"<h1>chatbench conformance check: {escape(status)}</h1>"
        f"<p>{escape(', '.join(results.urls))} &middot; started {escape(results.started)} "
        f"&middot; {results.duration_s:.1f} s &middot; strict: {'yes' if results.strict else 'no'}"
        f" &middot; exit {results.exit_code}</p>"
    )
    shown = [c for c in results.cases if c.verdict in _DETAILED]
    details = "".join(_details(c, results.strict) for c in shown)
    body = (
        head
        + _table(results.cases, results.strict)
        + (f"<h2>Failures, blocked cases and errors</h2>{details}" if details else "")
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>chatbench check: {escape(status)}</title><style>{_CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


_DETAILED = ("fail", "blocked", "error")


def title(results: CheckResults) -> str:
    """PASSED or FAILED (or HARNESS ERROR) with the verdict counts."""
    s = results.summary
    word = {0: "PASSED", 1: "FAILED", 3: "HARNESS ERROR"}.get(results.exit_code, "FAILED")
    counts = [f"{s.passed} passed", f"{s.failed} failed"]
    counts += [f"{s.blocked} blocked"] if s.blocked else []
    counts += [f"{s.errors} harness errors"] if s.errors else []
    counts += [f"{s.skipped} skipped"] if s.skipped else []
    counts += [f"{s.not_applicable} n/a"] if s.not_applicable else []
    return f"{word} ({', '.join(counts)})"


_COLUMNS = ("clause", "level", "§", "title", "verdict", "time", "reason")


def _table(cases: list[CaseResult], strict: bool) -> str:
    rows = "".join(_row(c, strict) for c in cases)
    head = "<tr>" + "".join(f"<th>{name}</th>" for name in _COLUMNS) + "</tr>"
    return f"<table>{head}{rows}</table>"


def _row(c: CaseResult, strict: bool) -> str:
    ident = f"<code>{escape(c.id)}</code>"
    if c.verdict in _DETAILED:  # only these have an anchor below
        ident = f"<a href='#{escape(c.id)}'>{ident}</a>"
    css, label = _verdict_label(c, strict)
    return (
        f"<tr><td>{ident}</td><td class={c.level.lower()}>{c.level}</td>"
        f"<td>{escape(c.section)}</td><td>{escape(c.title)}</td><td class={css}>{label}</td>"
        f"<td>{c.duration_s:.2f} s</td><td>{escape(clip(c.reason, 300))}</td></tr>"
    )


def _verdict_label(c: CaseResult, strict: bool) -> tuple[str, str]:
    """CSS class and text: a SHOULD miss that does not count is a warning, not a failure."""
    if c.verdict in ("fail", "blocked") and c.level == "SHOULD" and not strict:
        return "warn", f"warning ({c.verdict})"
    return ("na" if c.verdict == "n/a" else c.verdict), c.verdict


def _details(case: CaseResult, strict: bool) -> str:
    css, label = _verdict_label(case, strict)
    if case.verdict == "error":
        label = "harness error (not the server's fault)"
    return (
        f"<details open id='{escape(case.id)}'><summary><code>{escape(case.id)}</code> "
        f"({case.level}) <span class={css}>{escape(label)}</span>: {escape(clip(case.reason, 300))}"
        "</summary>"
        f"<p><b>expected</b></p><pre>{escape(clip(case.expected))}</pre>"
        f"<p><b>observed</b></p><pre>{escape(clip(case.observed))}</pre>"
        f"{_transcript(case.transcript)}</details>"
    )


def _transcript(entries: list[TranscriptEntry]) -> str:
    if not entries:
        return ""
    rows = "".join(
        f"<tr class={e.dir}><td>{e.t:.4f}</td><td>{escape(e.client)}</td><td>{e.dir}</td>"
        f"<td><code>{escape(e.data)}</code></td><td>{'' if e.code is None else e.code}</td></tr>"
        for e in entries
    )
    head = "<tr><th>t (s)</th><th>client</th><th>dir</th><th>data</th><th>code</th></tr>"
    return f"<p><b>transcript</b></p><table>{head}{rows}</table>"
