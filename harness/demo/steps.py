"""The steps of `chatbench demo`, each the same command a user would type."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Step:
    """One chatbench command run as a child process, and what its exit codes mean."""

    title: str
    args: tuple[str, ...]
    ok_codes: tuple[int, ...] = (0,)


def plan(url: str, out: Path, duration: int, users: int) -> list[Step]:
    """The check, load and report steps against a server at `url`, writing under `out`."""
    load_dir = out / "load"
    return [
        Step(
            "conformance check (docs/protocol.md, clause by clause)",
            (
                "check",
                url,
                "--json",
                str(out / "check.json"),
                "--html",
                str(out / "check.html"),
                "--junit",
                str(out / "check-junit.xml"),
            ),
        ),
        Step(
            f"load run: {users} users, {duration} s, 10% churn (abrupt TCP drops)",
            (
                "load",
                url,
                "--users",
                str(users),
                "--rooms",
                str(max(1, users // 10)),
                "--rate",
                "2",
                "--duration",
                str(duration),
                "--churn",
                "0.1",
                "--out",
                str(load_dir),
                "--slo",
                "lost==0",
                "--slo",
                "leave_missing==0",
            ),
        ),
        Step("report of the load run", ("report", str(load_dir), "-o", str(out / "report"))),
        Step(
            "report of the conformance check",
            ("report", str(out / "check.json"), "-o", str(out / "check-report")),
        ),
    ]


def run_step(step: Step, timeout: float) -> int:
    """Run one step, its output streaming to ours; returns its exit code."""
    print(f"\n== {step.title}\n$ chatbench {' '.join(step.args)}", flush=True)
    cmd = [sys.executable, "-m", "harness.cli", *step.args]
    try:
        return subprocess.run(cmd, timeout=timeout, check=False).returncode
    except subprocess.TimeoutExpired:
        print(f"chatbench demo: step did not finish within {timeout:.0f} s", file=sys.stderr)
        return 124
