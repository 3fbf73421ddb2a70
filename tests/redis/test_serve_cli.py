"""`chatbench serve` options of the Redis mode: bad values are one-line errors (no Redis needed)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.redis.deployment import CLI
from tests.redis.helpers import FACTOR


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "serve", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60 * FACTOR,
    )


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--workers", "3"], {}, "--redis-url"),
        (["--redis-url", "http://127.0.0.1:6379"], {}, "redis_url must start with redis://"),
        ([], {"CHATBENCH_REDIS_URL": "localhost:6379"}, "redis_url must start with redis://"),
        ([], {"CHATBENCH_REDIS_SHARDED": "maybe"}, "is not a boolean"),
    ],
)
def test_bad_redis_options_are_refused_in_one_line(
    args: list[str], env: dict[str, str], expected: str
) -> None:
    done = serve(*args, env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr
