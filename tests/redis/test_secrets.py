"""Issue 14, point 4: the Redis password is never shown, in any output, by any path.

A real redis-server with `requirepass`; `chatbench serve` processes with the password in their
URL go through start, an outage and its reconnection attempts, a wrong password, /healthz
(with and without details), /stats and a bad-URL error; every byte they print is searched.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest

from reference_server.redact import redact_url, scrub, secrets_of
from tests.redis.deployment import CLI, ServeProcess
from tests.redis.helpers import FACTOR
from tests.redis_server import RedisServer, available

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

PASSWORD = "s3cret-pw"


@pytest.fixture(scope="module")
def guarded_redis() -> Iterator[RedisServer]:
    """A redis-server that requires PASSWORD."""
    if not available():
        pytest.skip("redis-server not installed")
    with RedisServer(password=PASSWORD) as server:
        yield server


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5 * FACTOR) as resp:
        return str(resp.read().decode())


async def _outputs(process: ServeProcess, redis: RedisServer) -> list[str]:
    """Everything the process shows through an outage: HTTP bodies, then its whole log."""
    shown = [await asyncio.to_thread(_get, process.port, path) for path in ("/healthz", "/stats")]
    redis.stop()
    health = await process.wait_health("degraded", 10 * FACTOR)
    shown.append(json.dumps(health))
    redis.start()
    await process.wait_health("ok", 20 * FACTOR)
    await process.stop()
    return [*shown, process.log(whole=True)]


@pytest.mark.slow
async def test_the_password_appears_in_no_output(guarded_redis: RedisServer) -> None:
    outputs: list[str] = []
    for details in ("0", "1"):
        env = {"CHATBENCH_HEALTHZ_DETAILS": details, "CHATBENCH_LOG_LEVEL": "info"}
        process = await ServeProcess(guarded_redis.url, env=env).start()
        outputs += await _outputs(process, guarded_redis)
    wrong = guarded_redis.url.replace(PASSWORD, "wr0ng-pw")
    process = ServeProcess(wrong, env={"CHATBENCH_HEALTHZ_DETAILS": "1"})
    with pytest.raises(AssertionError):  # never healthy: AUTH fails, again and again
        await process.start(healthy_within=3 * FACTOR)
    outputs.append(json.dumps(await process.health()))
    await process.stop()
    outputs.append(process.log(whole=True))
    bad = subprocess.run(
        [*CLI, "serve", "--redis-url", f"redis://:{PASSWORD}@127.0.0.1:notaport/0"],
        capture_output=True,
        text=True,
        timeout=60 * FACTOR,
        check=False,
    )
    assert bad.returncode == 2
    outputs += [bad.stdout, bad.stderr]
    everything = "\n".join(outputs)
    assert "redis unreachable (redis://:***@127.0.0.1" in everything  # the lines are there
    assert '"url": "redis://:***@127.0.0.1' in everything  # /healthz with details
    assert "AuthenticationError" in everything or "invalid" in everything.lower()
    for secret in (PASSWORD, "wr0ng-pw"):
        assert secret not in everything


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
        ("redis://user:pw@h/0", "redis://user:***@h/0"),
        ("redis://user@h/0", "redis://user@h/0"),
        (
            "rediss://h:1/0?password=pw&ssl_cert_reqs=none",
            "rediss://h:1/0?password=***&ssl_cert_reqs=none",
        ),
        ("unix:///tmp/r.sock?db=1&password=pw", "unix:///tmp/r.sock?db=1&password=***"),
        ("redis://h:1/0", "redis://h:1/0"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_secrets_of_a_url_include_its_encoded_forms() -> None:
    found = secrets_of("redis://:p%40ss%2Fw@h/0")
    assert {"p@ss/w", "p%40ss%2Fw"} <= found
    assert secrets_of("redis://h/0") == set()


def test_scrub_replaces_registered_secrets_only() -> None:
    from reference_server import redact

    redact.protect("redis://:unit-secret@h/0")
    assert scrub("AUTH unit-secret failed") == "AUTH *** failed"
    assert scrub("nothing here") == "nothing here"
