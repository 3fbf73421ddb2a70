"""Correct servers that are merely different pass: slower, late, on another WebSocket stack.

The other half of "every check can fail" (test_faults.py): a check that fails a correct server
lies too. Each quirk of the fake server, and the reference server on each of uvicorn's
WebSocket implementations, must pass every clause (--strict).
"""

from __future__ import annotations

import pytest

from reference_server.embedded import running_server
from tests.check.helpers import check_json
from tests.fakes.chat_server import running_fake


def _no_failures(rc, results):
    bad = {c.id: c.reason for c in results.cases if c.verdict not in ("pass", "skip")}
    assert bad == {}
    assert rc == 0


@pytest.mark.slow
@pytest.mark.parametrize("quirk", ["late-broadcast", "slow-inbound"])
def test_a_correct_but_slow_server_passes_every_clause(tmp_path, quirk):
    """20 ms late on every event, or 20 ms per frame a client sends (50 messages/s each)."""
    with running_fake(quirks={quirk}) as url:
        rc, results = check_json([url], tmp_path, "--strict")
    _no_failures(rc, results)


@pytest.mark.slow
def test_a_server_that_replays_history_to_joiners_passes_every_clause(tmp_path):
    """Replaying the last messages of a room to a joiner is allowed: nothing was owed twice."""
    with running_fake({"history"}) as url:
        rc, results = check_json([url], tmp_path, "--strict")
    _no_failures(rc, results)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The `websockets` implementation is deprecated")
def test_reference_server_on_uvicorn_legacy_websockets_passes_every_clause(tmp_path):
    """`--ws websockets` closes a 1 MiB sender with 1009 but announces it only after its
    10 s close timeout: within the bound of section 7 (close handshake, then leave.abrupt)."""
    with running_server(ws="websockets") as url:
        rc, results = check_json([url], tmp_path, "--strict")
    _no_failures(rc, results)


@pytest.mark.parametrize("ws", ["websockets-sansio", "wsproto"])
def test_reference_server_on_other_uvicorn_stacks_survives_bad_frames(tmp_path, ws):
    with running_server(ws=ws) as url:
        rc, results = check_json(
            [url], tmp_path, "--strict", "--only", "limit.*", "--only", "input.*"
        )
    _no_failures(rc, results)
    assert {c.id for c in results.cases} >= {"limit.oversize-safe", "limit.frame-size"}


def test_a_stricter_rate_limit_skips_the_flood_cases_not_fails_them(tmp_path):
    """10/s in bursts of 50: the floods of flow.slow-consumer and flow.evict are refused as
    rate_limited, so neither can judge its clause; message.order is not blamed either."""
    from reference_server.settings import Settings

    with running_server(Settings(rate_limit=10.0, rate_burst=50)) as url:
        rc, results = check_json(
            [url], tmp_path, "--strict", "--only", "flow.slow-consumer", "--only", "flow.evict"
        )
    verdicts = {c.id: (c.verdict, c.reason) for c in results.cases}
    assert {k: v for k, (v, _) in verdicts.items()} == {
        "flow.slow-consumer": "skip",
        "flow.evict": "skip",
    }, verdicts
    assert all("rate_limited" in reason for _, reason in verdicts.values()), verdicts
    assert rc == 0
