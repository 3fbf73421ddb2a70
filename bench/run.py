"""Run the chatbench benchmarks and write docs/benchmarks.md (make bench, make bench-quick).

Parts: fanout (1: reference vs seed-style vs websockets.broadcast), slow (2: slow consumer),
generator (3: chatbench load vs a naive Locust user, and its capacity), scaleout (4: two
reference processes sharing Redis vs one), scale (5: 1k-20k mostly idle members: p99, memory
per connection, CPU). `--quick` runs a shorter version (under 10
minutes) and prints the ratios as its last line. `--only PART` (repeatable) runs some parts
and merges them into the previous results of the same mode.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import background, charts, fanout, generator, report, scale, slow
from bench.procs import ROOT, SERVER_KINDS
from bench.search import Plan

PARTS = ("fanout", "slow", "generator", "scaleout", "scale")

PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "plan": Plan(
            start=8000, factor=1.6, max_rate=400_000, bisect=3, duration=3, warmup=1, payload=100
        ),
        "slow": slow.SlowPlan(warmup=5, duration=4, drain=2),
        "gen": generator.GenPlan(
            duration=8, ramp=[10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 80_000], bisect=1
        ),
        "scale": scale.ScalePlan(steps=[1000, 5000, 10000], measure=8),
    },
    "full": {
        "plan": Plan(
            start=5000, factor=1.35, max_rate=400_000, bisect=2, duration=6, warmup=2, payload=100
        ),
        "slow": slow.SlowPlan(warmup=6, duration=10, drain=3),
        "gen": generator.GenPlan(
            duration=20,
            ramp=[10_000, 15_000, 20_000, 25_000, 30_000, 40_000, 50_000, 60_000, 80_000, 100_000],
            bisect=2,
        ),
        "scale": scale.ScalePlan(steps=[1000, 5000, 10000, 20000], measure=20),
    },
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter run (under 10 minutes)")
    parser.add_argument("--only", action="append", choices=PARTS, help="run only this part")
    parser.add_argument("--drivers", type=int, default=2, help="driver processes (2)")
    parser.add_argument("--out", type=Path, help="markdown file to write")
    parser.add_argument(
        "--render",
        action="store_true",
        help="only rewrite the markdown and charts from saved results",
    )
    args = parser.parse_args(argv)
    if args.drivers < 1:
        parser.error("--drivers must be at least 1")
    return args


def paths(mode: str, out: Path | None) -> tuple[Path, Path, Path]:
    """(markdown, results json, chart folder) of a mode."""
    bench_dir = ROOT / "docs" / "benchmarks"
    if mode == "full":
        doc = out or ROOT / "docs" / "benchmarks.md"
        return doc, bench_dir / "results.json", bench_dir
    doc = out or bench_dir / "quick.md"
    return doc, bench_dir / "results-quick.json", bench_dir / "quick"


def run_part(part: str, profile: dict[str, Any], drivers: int) -> dict[str, Any]:
    """One part's results (an `error` entry if it could not run at all)."""
    log = _log
    cfg = fanout.FanoutConfig(drivers=drivers)
    try:
        if part == "fanout":
            return fanout.part1(list(SERVER_KINDS), cfg, profile["plan"], log)
        if part == "slow":
            before = {background.KEY: background.check("slow", log)}
            return slow.run(list(SERVER_KINDS), profile["slow"], log) | before
        if part == "generator":
            before = {background.KEY: background.check("generator", log)}
            return generator.run(profile["gen"], log) | before
        if part == "scale":
            return scale.run(profile["scale"], log)
        return fanout.part4(cfg, profile["plan"], log)
    except Exception as exc:
        log(f"  {part}: error {type(exc).__name__}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}


def _log(message: str) -> None:
    print(message, flush=True)


def _json_safe(value: Any) -> Any:
    """inf/nan as strings: results.json stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _json_load(value: Any) -> Any:
    if value in ("inf", "nan", "-inf"):
        return float(value)
    if isinstance(value, dict):
        return {k: _json_load(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_load(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = "quick" if args.quick else "full"
    doc, results_path, chart_dir = paths(mode, args.out)
    results: dict[str, Any] = {}
    if (args.only or args.render) and results_path.exists():
        results = _json_load(json.loads(results_path.read_text()))
    if args.render:
        if not results:
            parser_error(f"no saved results at {results_path.relative_to(ROOT)}")
        return write(results, doc, chart_dir)
    t0 = time.monotonic()
    results |= {
        "mode": mode,
        "command": " ".join(["python bench/run.py", *(sys.argv[1:] if argv is None else argv)]),
        "started": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": report.machine_info(),
    }
    for part in args.only or PARTS:
        _log(f"part {part} ({mode})")
        results[part] = run_part(part, PROFILES[mode], args.drivers)
    results["elapsed_s"] = time.monotonic() - t0
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(_json_safe(results), indent=1) + "\n")
    return write(results, doc, chart_dir)


def parser_error(message: str) -> None:
    print(f"bench/run.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def write(results: dict[str, Any], doc: Path, chart_dir: Path) -> int:
    """Charts and markdown from `results`; print the ratios, the summary line last."""
    rel = Path(os.path.relpath(chart_dir, doc.parent)).as_posix()  # "." when the same
    drawn = charts.draw_all(results, chart_dir, rel)
    optimisations = report.hand_written(report.DOC)
    doc.write_text(report.render(results, drawn, optimisations))
    ratios = report.ratios(results)
    for line in background.warnings(results):
        _log(f"warning: {line}")
    for key, value in ratios.items():
        _log(
            f"{key}: {value:.2f} (target {' '.join(map(str, report.TARGETS[key]))}: "
            f"{report.meets(key, value)})"
        )
    _log(f"wrote {os.path.relpath(doc, ROOT)} in {results['elapsed_s'] / 60:.1f} min")
    print(report.summary_line(ratios), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
