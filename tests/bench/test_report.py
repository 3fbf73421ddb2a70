"""docs/benchmarks.md rendering: the summary line, targets, and the kept hand-written part."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import fanout, report


def results() -> dict[str, Any]:
    step: dict[str, Any] = {
        "offered": 1000.0,
        "achieved": 990.0,
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "max_ms": 3.0,
    }
    step |= {"server_cpu": 0.5, "drivers_cpu_total": 0.3, "lag_p99_ms": 0.1, "ok": True}
    step |= {"reason": "", "lost": 0, "expected": 10}
    search = {"capacity": 990.0, "best": step, "steps": [step], "limited_by": "server"}
    return {
        "mode": "quick",
        "command": "python bench/run.py --quick",
        "started": "today",
        "elapsed_s": 60.0,
        "machine": report.machine_info(),
        "fanout": {
            "config": {},
            "servers": {"reference": search, "seed": {**search, "capacity": 495.0}},
        },
    }


def test_summary_line_is_exact() -> None:
    r = report.ratios(results())
    assert r["server_vs_seed"] == 2.0
    assert report.summary_line(r) == (
        "server_vs_seed=2.00 server_vs_broadcast=nan slow_consumer_p99_ratio=nan "
        "generator_p99_vs_naive=nan generator_capacity=nan cpu_vs_seed=1.00 cpu_vs_broadcast=nan "
        "conn_p99_ms_10k=nan "
        "server_kb_per_conn=nan generator_kb_per_user=nan"
    )


def test_targets() -> None:
    assert report.meets("server_vs_seed", 1.3) == "yes"
    assert report.meets("slow_consumer_p99_ratio", float("inf")) == "**no**"
    assert report.meets("generator_capacity", float("nan")) == "not measured"


def test_optimisations_kept(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"old\n{report.OPT_START}\n- orjson: +12%\n{report.OPT_END}\nold tail\n")
    kept = report.hand_written(doc)
    text = report.render(results(), {}, kept)
    assert "- orjson: +12%" in text and text.count(report.OPT_START) == 1
    assert "| reference | 990 |" in text


def test_cpu_per_delivery_at_the_highest_rate_all_passed() -> None:
    def s(offered: float, cpu: float, ok: bool = True) -> dict[str, Any]:
        return {"offered": offered, "achieved": offered, "server_cpu": cpu, "ok": ok}

    servers = {
        "reference": {"steps": [s(1000, 0.01), s(2000, 0.02), s(4000, 0.04), s(8000, 0.5, False)]},
        "seed": {"steps": [s(1000, 0.02), s(2000, 0.05), s(2000, 0.04), s(4000, 0.9, False)]},
    }
    rate, us = fanout.common_cpu(servers)
    assert rate == 2000 and us == {"reference": pytest.approx(10.0), "seed": pytest.approx(20.0)}
    assert report.ratios({"fanout": {"servers": servers}})["cpu_vs_seed"] == pytest.approx(0.5)
    assert fanout.common_cpu({"reference": {"steps": [s(1000, 0.01, False)]}}) == (0.0, {})


def test_every_step_shows_how_long_server_and_driver_waited_for_a_cpu() -> None:
    r = results()
    waited = {**r["fanout"]["servers"]["reference"]["steps"][0]}
    waited |= {"server_wait": 0.123, "driver_wait": 0.051}
    r["fanout"]["servers"]["reference"] = {**r["fanout"]["servers"]["reference"], "steps": [waited]}
    text = report.render(r, {}, "")
    assert "| 12% / 5% |" in text  # reference: measured
    assert "| - |" in text  # seed: an older result without the measurement, not 0%
