"""The HTML page of a conformance check: every clause with its verdict, every failure with
its expected/observed and transcript. Self-contained (inline CSS, no scripts, no network).

`chatbench check --html FILE` and `chatbench report CHECK.json` both call `render_check_html`.
"""

from __future__ import annotations

from html import escape

from harness.results import CaseResult, CheckResults, TranscriptEntry

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
table{border-collapse:collapse;width:100%}th{background:#f4f4f4}
td,th{padding:.3em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
code,pre{font:12px/1.4 ui-monospace,monospace}
pre{white-space:pre-wrap;word-break:break-all;background:#f8f8f8;padding:.6em}
.pass{color:#17692d}.fail{color:#b3261e;font-weight:bold}.error{color:#8a4b00;font-weight:bold}
.skip{color:#666}.should{color:#8a6d00}details{margin:.8em 0;border:1px solid #ddd;padding:.5em}
.send{color:#1a4d8f}.recv{color:#222}.close{color:#b3261e}.note{color:#666;font-style:italic}
"""


def render_check_html(results: CheckResults) -> str:
    """A self-contained HTML page for one check result."""
    s = results.summary
    status = "PASSED" if results.exit_code == 0 else f"exit {results.exit_code}"
    head = (
        f"<h1>chatbench conformance check: {escape(status)}</h1>"
        f"<p>{escape(', '.join(results.urls))} &middot; started {escape(results.started)} "
        f"&middot; {results.duration_s:.1f} s &middot; strict: {'yes' if results.strict else 'no'}"
        f"</p><p>{s.passed} passed, {s.failed} failed, {s.errors} harness errors, "
        f"{s.skipped} skipped</p>"
    )
    details = "".join(_details(c) for c in results.cases if c.verdict in ("fail", "error"))
    body = (
        head + _table(results.cases) + (f"<h2>Failures and errors</h2>{details}" if details else "")
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>chatbench check</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


_COLUMNS = ("clause", "level", "§", "title", "verdict", "time", "reason")


def _table(cases: list[CaseResult]) -> str:
    rows = "".join(
        f"<tr><td><a href='#{escape(c.id)}'><code>{escape(c.id)}</code></a></td>"
        f"<td class={c.level.lower()}>{c.level}</td><td>{escape(c.section)}</td>"
        f"<td>{escape(c.title)}</td><td class={c.verdict}>{c.verdict}</td>"
        f"<td>{c.duration_s:.2f} s</td><td>{escape(c.reason)}</td></tr>"
        for c in cases
    )
    head = "<tr>" + "".join(f"<th>{name}</th>" for name in _COLUMNS) + "</tr>"
    return f"<table>{head}{rows}</table>"


def _details(case: CaseResult) -> str:
    label = "harness error (not the server's fault)" if case.verdict == "error" else "failure"
    return (
        f"<details open id='{escape(case.id)}'><summary><code>{escape(case.id)}</code> "
        f"({case.level}) {label}: {escape(case.reason)}</summary>"
        f"<p><b>expected</b></p><pre>{escape(case.expected)}</pre>"
        f"<p><b>observed</b></p><pre>{escape(case.observed)}</pre>"
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
