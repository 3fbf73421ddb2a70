"""The whole suite passes against correct servers: the fake without faults and the reference."""

from __future__ import annotations

from harness.protocol import CLAUSES
from tests.check.helpers import check_json, verdicts
from tests.fakes.chat_server import running_fake


def _all_pass(rc: int, results) -> None:
    bad = {c.id: c.reason for c in results.cases if c.verdict not in ("pass", "skip")}
    assert bad == {}
    assert rc == 0 and results.exit_code == 0
    assert verdicts(results)["shutdown.going-away"] == "skip"
    assert [c.id for c in results.cases] == [c.id for c in CLAUSES]  # one case per clause


def test_whole_suite_passes_against_the_fake_server(tmp_path):
    with running_fake() as url:
        rc, results = check_json([url], tmp_path, "--strict")
    _all_pass(rc, results)


def test_whole_suite_passes_against_the_reference_server(tmp_path, reference_url):
    rc, results = check_json([reference_url], tmp_path, "--strict")
    _all_pass(rc, results)
    assert results.duration_s < 60


def test_several_urls_spread_clients_round_robin(tmp_path):
    """Two URLs of one server pass; two unconnected servers break cross-node delivery."""
    only = ["--only", "message.broadcast", "--only", "join.online-count"]
    with running_fake() as url:
        rc, results = check_json([url, url], tmp_path, *only)
    assert rc == 0, results.cases
    with running_fake() as one, running_fake() as two:
        rc, results = check_json([one, two], tmp_path, *only)
    assert rc == 1
    assert verdicts(results) == {"message.broadcast": "fail", "join.online-count": "fail"}
