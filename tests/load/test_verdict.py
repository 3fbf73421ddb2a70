"""When a run proves nothing: harness.load.verdict on made-up results."""

from __future__ import annotations

from typing import Any

import pytest

from harness.load.verdict import broken_reasons, codes
from harness.results import LoadResults, Storm


def results(**sections: dict[str, Any]) -> LoadResults:
    """A healthy run of 6 users, with `sections` merged in."""
    doc: dict[str, Any] = {
        "fanout_latency_us": {"count": 500, "p99": 2000},
        "rtt_latency_us": {"count": 100, "p99": 1500},
        "deliveries": {"expected": 600, "delivered": 600},
        "cleanup": {},
        "connections": {"opened": 6, "welcomed": 6, "users": 6},
        "sends": {"scheduled": 100, "sent": 100},
    }
    for name, values in sections.items():
        doc[name] = {**doc.get(name, {}), **values}
    return LoadResults.model_validate(doc)


def test_a_healthy_run_is_not_broken():
    assert broken_reasons(results()) == []


@pytest.mark.parametrize(
    ("sections", "reason"),
    [
        (
            {"connections": {"welcomed": 0}},
            "no member was welcomed (6 connections, 0 welcomes); nothing was delivered",
        ),
        (
            {"deliveries": {"expected": 0, "delivered": 0}, "sends": {"sent": 0}},
            "no message was sent; nothing was delivered",
        ),
        (
            {"deliveries": {"expected": 0, "delivered": 0}},
            "no delivery was expected (100 messages sent); nothing was delivered",
        ),
        (
            {"deliveries": {"expected": 600, "delivered": 0, "lost": 600}},
            "nothing was delivered (600 deliveries expected, all lost)",
        ),
        (
            {"connections": {"protocol_errors": {"1009": 2, "1007": 1}}},
            "the server broke the WebSocket protocol on 3 connections (1009 x2, 1007 x1)",
        ),
        (
            {"connections": {"users_ended_by_server": 6, "server_closes": {"1011": 18}}},
            "the server ended the connection of every user (6 of 6; closes 1011 x18; 0 lost)",
        ),
    ],
)
def test_each_rule_breaks_a_run(sections, reason):
    assert broken_reasons(results(**sections)) == [reason]


def test_a_server_that_is_merely_different_is_not_broken():
    """It replays history, ends some sessions, or the rooms have one member (own copies only)."""
    different = results(
        deliveries={"replayed": 5000},
        connections={"server_closes": {"1000": 2}, "users_ended_by_server": 2, "reconnects": 2},
        fanout_latency_us={"count": 0},
    )
    assert broken_reasons(different) == []


def test_results_written_before_the_new_fields_are_judged_by_their_counters():
    old = LoadResults.model_validate(
        {
            "fanout_latency_us": {},
            "rtt_latency_us": {},
            "deliveries": {"expected": 0},
            "cleanup": {},
            "timeseries": [{"t": 0, "sent": 7}],
        }
    )
    assert broken_reasons(old) == [
        "no delivery was expected (7 messages sent); nothing was delivered"
    ]


def test_codes_rank_by_count():
    assert codes({"1000": 1, "1011": 12, "1001": 1}) == "1011 x12, 1000 x1, 1001 x1"
    assert codes({}) == ""


def test_a_server_without_welcomes_is_broken_in_its_own_words():
    r = results(connections={"welcomed": 0})
    r.config["profile"] = {"name": "plain", "welcome": False}
    assert broken_reasons(r) == [
        "no member got into the room (6 connections, 0 admitted); nothing was delivered"
    ]


STORM = {"at_s": 2.5, "dropped": 12, "back": 12, "back_99_s": 1.0, "back_100_s": 1.5}


def with_storm(storm: dict[str, Any] | None, planned: bool = True) -> LoadResults:
    r = results(config={"storm": {"at_s": 2.0}} if planned else {})
    return r.model_copy(update={"storm": None if storm is None else Storm(**storm)})


def test_a_storm_everybody_came_back_from_is_not_broken():
    assert broken_reasons(with_storm(STORM)) == []
    assert broken_reasons(with_storm(None, planned=False)) == []


@pytest.mark.parametrize(
    ("storm", "reason"),
    [
        (None, "the reconnect storm planned at 2 s never happened"),
        ({**STORM, "dropped": 0, "back": 0}, "the reconnect storm at 2.5 s dropped no connection"),
        (
            {
                **STORM,
                "back": 3,
                "back_99_s": None,
                "back_100_s": None,
                "failed_handshakes": {"503": 40},
            },
            "after the reconnect storm at 2.5 s, only 3 of 12 dropped users came back before "
            "the run ended; failed handshakes 503 x40",
        ),
    ],
)
def test_a_storm_that_did_not_happen_or_was_not_survived_is_broken(storm, reason):
    assert broken_reasons(with_storm(storm)) == [reason]
