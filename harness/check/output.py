"""Writers for check results: the console table, JUnit XML and JSON (CheckResults)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from harness.results import CaseResult, CheckResults, TranscriptEntry

EXIT_MEANING = {
    0: "every MUST case passed",
    1: "the server broke a clause",
    2: "unreachable or bad arguments",
    3: "harness error (not the server's fault)",
}


def _counted(case: CaseResult, strict: bool) -> bool:
    return case.level == "MUST" or strict


HEADER = ("clause", "level", "verdict", "time", "reason")


def column_widths(ids: list[str]) -> list[int]:
    """Widths of the first four columns, known before any case ran (for streaming rows)."""
    return [max(len(HEADER[0]), *map(len, ids)), 6, 8, 7]


def table_head(widths: list[int]) -> list[str]:
    """The header line and its rule."""
    return [format_row(HEADER, widths), "-" * min(100, sum(widths) + 8 + 6)]


def format_row(row: tuple[str, str, str, str, str], widths: list[int]) -> str:
    """One table line."""
    return "  ".join(row[i].ljust(widths[i]) for i in range(4)) + "  " + row[4]


def console_table(results: CheckResults) -> str:
    """Clause, level, verdict, time and a one-line reason per case, then a summary line."""
    widths = column_widths([c.id for c in results.cases])
    lines = table_head(widths)
    lines += [format_row(case_row(c, results.strict), widths) for c in results.cases]
    return "\n".join([*lines, *table_tail(results)])


def table_tail(results: CheckResults) -> list[str]:
    """The legend, the evidence of each failure and the summary line."""
    lines = []
    if any(_uncounted(c, results.strict) for c in results.cases):
        lines.append("* = SHOULD clause not met or blocked; fails the run only with --strict")
    if any(c.verdict == "blocked" for c in results.cases):
        lines.append(
            "BLOCKED = a precondition (another clause) failed before the case could judge its own"
        )
    lines += _evidence(results.cases)
    lines.append(_summary_line(results))
    return lines


class Progress:
    """Prints each case's row as soon as it and every case before it finished: the table's
    order, streamed (a run takes 15-30 s; nobody should stare at nothing)."""

    def __init__(self, ids: list[str], strict: bool, write: Callable[[str], None]) -> None:
        self.ids, self.strict, self.write = ids, strict, write
        self.widths = column_widths(ids)
        self.done: dict[str, CaseResult] = {}
        self.shown = 0
        for line in table_head(self.widths):
            write(line)

    def finished(self, result: CaseResult) -> None:
        """A case ended: print every row now complete, in order."""
        self.done[result.id] = result
        while self.shown < len(self.ids) and self.ids[self.shown] in self.done:
            row = case_row(self.done[self.ids[self.shown]], self.strict)
            self.write(format_row(row, self.widths))
            self.shown += 1

    def end(self, results: CheckResults) -> None:
        """The legend, the evidence and the summary line."""
        for line in table_tail(results):
            self.write(line)


def case_row(c: CaseResult, strict: bool) -> tuple[str, str, str, str, str]:
    """One console row: clause, level, verdict (`*` when it does not count), time, reason."""
    verdict = c.verdict.upper()
    if _uncounted(c, strict):
        verdict = c.verdict + "*"
    return (c.id, c.level, verdict, f"{c.duration_s:.2f}s", _one_line(c.reason))


def _uncounted(c: CaseResult, strict: bool) -> bool:
    return c.verdict in ("fail", "blocked") and not _counted(c, strict)


def _evidence(cases: list[CaseResult]) -> list[str]:
    """Expected vs observed of each failure (the transcripts are in --json / --html)."""
    lines = []
    for c in cases:
        if c.verdict == "fail" and (c.expected or c.observed):
            lines.append(f"  {c.id}: expected {_exact(c.expected)}")
            lines.append(f"  {' ' * len(c.id)}  observed {_exact(c.observed)}")
    return ["", "evidence (transcripts: --json / --html):", *lines, ""] if lines else []


def _one_line(text: str, limit: int = 110) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _exact(text: str, limit: int = 100) -> str:
    """`text` on one line with white space kept visible (evidence must not be normalized)."""
    line = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _summary_line(r: CheckResults) -> str:
    s = r.summary
    return (
        f"{len(r.cases)} cases: {s.passed} passed, {s.failed} failed, {s.blocked} blocked, "
        f"{s.errors} harness errors, {s.skipped} skipped, {s.not_applicable} n/a "
        f"in {r.duration_s:.1f} s "
        f"-> exit {r.exit_code} ({EXIT_MEANING.get(r.exit_code, '')})"
    )


def write_json(results: CheckResults, path: Path) -> None:
    """The --json file: CheckResults with the `schema` key."""
    path.write_text(results.model_dump_json(by_alias=True, indent=1) + "\n", encoding="utf-8")


def transcript_text(entries: list[TranscriptEntry]) -> str:
    """A transcript as plain lines: time, client, direction, data and close code."""
    lines = []
    for e in entries:
        code = f" [code {e.code}]" if e.code is not None else ""
        lines.append(f"{e.t:9.4f}s {e.client:>10} {e.dir:<5} {e.data}{code}")
    return "\n".join(lines)


CLIP_CHARS = 1000
"""Expected / observed beyond this are cut in JUnit, HTML and pytest output (JSON keeps all)."""


def clip(text: str, limit: int = CLIP_CHARS) -> str:
    """`text`, cut to `limit` characters with a note of its length and where the rest is."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters in all; the whole text is in --json)"


def failure_text(case: CaseResult) -> str:
    """Expected vs observed, the reason and the transcript: the body of a JUnit failure."""
    parts = [
        f"clause: {case.id} ({case.level}, section {case.section}): {case.title}",
        *([f"blocked by: {case.blocked_by}"] if case.blocked_by else []),
        f"reason: {clip(case.reason, 300)}",
        f"expected: {clip(case.expected)}",
        f"observed: {clip(case.observed)}",
    ]
    if case.transcript:
        parts += ["", "transcript:", transcript_text(case.transcript)]
    return "\n".join(parts)


def junit_xml(results: CheckResults) -> str:
    """JUnit XML: one testsuite, one testcase per clause; SHOULD failures are <failure> only
    with --strict (else <skipped> with the reason, so the report matches the exit code).
    A blocked case is an <error type="blocked"> naming the clause that blocked it (a
    <skipped> when it does not count)."""
    suite = ET.Element("testsuite", name="chatbench.check", timestamp=results.started)
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    for case in results.cases:
        counts_key = _junit_case(suite, case, results.strict)
        if counts_key:
            counts[counts_key] += 1
    suite.set("tests", str(len(results.cases)))
    suite.set("time", f"{results.duration_s:.3f}")
    for key, value in counts.items():
        suite.set(key, str(value))
    props = ET.SubElement(suite, "properties")
    for url in results.urls:
        ET.SubElement(props, "property", name="url", value=url)
    root = ET.Element("testsuites", name="chatbench", tests=str(len(results.cases)))
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _junit_case(suite: ET.Element, case: CaseResult, strict: bool) -> str | None:
    section = f"chatbench.conformance.section{case.section}"
    node = ET.SubElement(
        suite, "testcase", classname=section, name=case.id, time=f"{case.duration_s:.3f}"
    )
    message = _xml_safe(f"{case.level}: {clip(case.reason, 300)}")
    body = _xml_safe(failure_text(case))
    if case.verdict == "fail" and _counted(case, strict):
        ET.SubElement(node, "failure", message=message, type=case.level).text = body
        return "failures"
    if case.verdict == "fail":
        skipped = ET.SubElement(
            node, "skipped", message=f"SHOULD not met (counts with --strict): {message}"
        )
        skipped.text = body
        return "skipped"
    if case.verdict == "blocked" and _counted(case, strict):
        ET.SubElement(node, "error", message=message, type="blocked").text = body
        return "errors"
    if case.verdict == "blocked":
        skipped = ET.SubElement(node, "skipped", message=f"SHOULD blocked: {message}")
        skipped.text = body
        return "skipped"
    if case.verdict == "error":
        ET.SubElement(node, "error", message=message, type="harness-error").text = body
        return "errors"
    if case.verdict in ("skip", "n/a"):
        ET.SubElement(node, "skipped", message=message)
        return "skipped"
    return None


def _xml_safe(text: str) -> str:
    """Drop characters XML 1.0 cannot hold (control characters from hostile frames)."""
    return "".join(
        ch
        for ch in text
        if ch in "\t\n\r"
        or (ord(ch) >= 0x20 and ord(ch) not in (0xFFFE, 0xFFFF) and not 0xD800 <= ord(ch) <= 0xDFFF)
    )


def write_junit(results: CheckResults, path: Path) -> None:
    """The --junit file."""
    path.write_text(junit_xml(results), encoding="utf-8")
