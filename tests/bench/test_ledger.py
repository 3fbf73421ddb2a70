"""Delivery accounting of the benchmark driver (pure)."""

from __future__ import annotations

import pytest

from bench.control import merge
from bench.ledger import Ledger, decode_histogram
from harness.protocol import Probe


def test_counts_and_latency() -> None:
    ledger = Ledger("m1")
    ledger.on_send(3)
    sender = ledger.sender(0)
    for receiver, delay_us in ((0, 100), (1, 250), (2, 4000)):
        ledger.on_receive(receiver, Probe(sender, 1, 1_000_000), 1_000_000 + delay_us * 1000)
    summary = ledger.summary()
    assert (summary["expected"], summary["delivered"], summary["lost"]) == (3, 3, 0)
    # HdrHistogram with 3 significant digits: values within 0.1%.
    assert summary["max_us"] == pytest.approx(4000, rel=1e-3)
    assert summary["p50_us"] == pytest.approx(250, rel=1e-3)
    assert decode_histogram(summary["hist"]).get_total_count() == 3


def test_duplicates_and_reorders_are_not_deliveries() -> None:
    ledger = Ledger("m1")
    ledger.on_send(1)
    ledger.on_send(1)
    sender = ledger.sender(7)
    ledger.on_receive(0, Probe(sender, 2, 0), 1000)
    ledger.on_receive(0, Probe(sender, 2, 0), 1000)  # duplicate
    ledger.on_receive(0, Probe(sender, 1, 0), 1000)  # older than one already seen
    assert (ledger.delivered, ledger.disordered, ledger.lost) == (1, 2, 1)


def test_tags_do_not_collide() -> None:
    assert Ledger("m1").owns(Probe("m1.4", 1, 0))
    assert not Ledger("m1").owns(Probe("m12.4", 1, 0))


def test_merge_adds_counts_and_histograms() -> None:
    replies = []
    for delay in (1000, 3000):
        ledger = Ledger("m1")
        ledger.on_send(1)
        ledger.on_receive(0, Probe(ledger.sender(0), 1, 0), delay * 1000)
        replies.append(
            {
                **ledger.summary(),
                "closed": 0,
                "driver_cpu": 0.25,
                "lag_p99_us": 10,
                "server_cpu": 0.5,
            }
        )
    step = merge(replies, offered=2.0, duration=1.0)
    assert (step.expected, step.delivered, step.lost) == (2, 2, 0)
    assert step.max_ms == pytest.approx(3.0, rel=1e-3) and step.p50_ms == pytest.approx(
        1.0, rel=1e-3
    )
    assert step.drivers_cpu_total == 0.5 and step.achieved == 2.0
