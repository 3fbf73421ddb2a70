"""In CI a missing redis-server fails the run; on a developer's machine it skips the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pytest_without_redis(ci: str) -> subprocess.CompletedProcess[str]:
    """One Redis test file, with every directory that holds redis-server left off PATH."""
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    path = os.pathsep.join(d for d in dirs if not (Path(d) / "redis-server").exists())
    env = {**os.environ, "PATH": path, "CI": ci}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/redis/test_hub.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_missing_redis_server_is_an_error_in_ci() -> None:
    proc = _pytest_without_redis("true")
    assert proc.returncode == 4, proc.stdout + proc.stderr  # pytest's usage error
    assert "ERROR: CI is set and" in proc.stderr
    assert "redis-server not found on PATH" in proc.stderr


def test_a_missing_redis_server_skips_outside_ci() -> None:
    proc = _pytest_without_redis("")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "skipped" in proc.stdout and "passed" not in proc.stdout
