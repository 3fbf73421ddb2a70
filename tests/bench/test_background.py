"""Other load on the machine: sampled for real, warned about, named in results and report."""

from __future__ import annotations

import subprocess
import sys

from bench import background, report
from tests.bench.test_report import results


def test_a_busy_process_shows_in_the_sample() -> None:
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        loaded = background.busy(0.5)
    finally:
        for p in spinners:
            p.kill()
            p.wait(timeout=10)
    # two spinning processes take most of two cores (on more cores, their share); other load
    # on a CI box only adds to it, so no comparison with a "quiet" sample that may not be quiet
    assert loaded >= 0.8 * min(0.9, 2 / background.psutil.cpu_count())


def test_check_warns_only_above_the_limit(monkeypatch) -> None:
    logged: list[str] = []
    monkeypatch.setattr(background, "busy", lambda seconds=1.0: 0.93)
    assert background.check("fanout seed", logged.append) == 0.93
    monkeypatch.setattr(background, "busy", lambda seconds=1.0: 0.05)
    background.check("fanout broadcast", logged.append)
    assert logged == [
        "  warning: the machine was 93% busy before fanout seed started (other processes); "
        "its numbers read low and the ratios built on them are suspect"
    ]


def test_warnings_name_each_busy_search_and_part_and_reach_the_report() -> None:
    res = results()
    res["fanout"]["servers"]["reference"][background.KEY] = 0.93
    res["fanout"]["servers"]["seed"][background.KEY] = 0.02
    res["slow"] = {background.KEY: 0.5}
    found = background.warnings(res)
    assert [w.split(" started")[0] for w in found] == [
        "the machine was 93% busy before fanout reference",
        "the machine was 50% busy before slow",
    ]
    text = report.render(res, {}, "")
    assert f"**Warning:** {found[0]}." in text
    assert "**Warning:**" not in report.render(results(), {}, "")
