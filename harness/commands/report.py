"""`chatbench report`: charts, an HTML page and summary.md of a load run or a check result.

    chatbench report RUN [-o OUT]                      one load run or check JSON
    chatbench report --compare BASE NEW [-o OUT]       NEW against BASE; exit 1 on regression

matplotlib is imported only when the command runs, so other subcommands start fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.errors import UsageError

DEFAULT_COMPARE_OUT = Path("chatbench-compare")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the subcommand."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="draw charts and write an HTML report of a load run or check result",
        description="Charts (PNG and SVG), a self-contained index.html and summary.md.",
    )
    parser.add_argument(
        "run",
        nargs="?",
        metavar="RUN",
        help="a `chatbench load --out` directory, its results.json, or a `chatbench check` JSON",
    )
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        help="output directory (default: RUN/report, or NAME-report next to a file; "
        f"{DEFAULT_COMPARE_OUT} with --compare)",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("BASE", "NEW"),
        help="compare two load runs; exit 1 when NEW is worse than BASE",
    )
    parser.add_argument(
        "--threshold",
        default="10%",
        help="with --compare: largest tolerated relative p99 increase (default: 10%%)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the report; with --compare, print the verdict and return 1 on regression."""
    if args.compare and args.run:
        raise UsageError("give either RUN or --compare BASE NEW, not both")
    if args.compare:
        return _compare(args.compare[0], args.compare[1], args.out, args.threshold)
    if not args.run:
        raise UsageError("give RUN (a load run directory or a results/check JSON file)")
    return _report(Path(args.run), args.out)


def default_out(source: Path) -> Path:
    """RUN/report for a directory or its results.json; NAME-report next to any other file."""
    if source.is_dir():
        return source / "report"
    if source.name == "results.json":
        return source.parent / "report"
    return source.with_name(f"{source.stem}-report")


def _report(source: Path, out: Path | None) -> int:
    from reports import build, data

    loaded = data.load(source)
    out = out or default_out(source)
    if isinstance(loaded, data.LoadRun):
        written = build.load_report(loaded, out)
    else:
        written = build.check_report(loaded, out)
    print(f"wrote {out / 'index.html'} and {len(written) - 1} more files to {out}")
    return 0


def _compare(base: str, new: str, out: Path | None, threshold: str) -> int:
    from reports import build, compare, data

    try:
        threshold_pct = compare.parse_threshold(threshold)
    except ValueError:
        raise UsageError(f"--threshold: not a percentage: {threshold!r}") from None
    base_run, new_run = data.load_run(base), data.load_run(new)
    out = out or DEFAULT_COMPARE_OUT
    comparison, _ = build.compare_report(base_run, new_run, out, threshold_pct)
    print(comparison.verdict())
    for warning in comparison.warnings:
        print(f"chatbench report: warning: {warning}", file=sys.stderr)
    print(f"wrote {out / 'index.html'}")
    return 1 if comparison.regressed else 0
