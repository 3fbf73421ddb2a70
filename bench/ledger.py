"""Delivery accounting and latency histograms for the benchmark driver. Pure: no I/O.

A step's messages carry probe senders `TAG.MEMBER`; the ledger counts what was sent, how many
deliveries that owes (the room size: every member, the sender included, `message.broadcast`),
what arrived, and records fan-out latency (receive time - send time) in microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.protocol import Probe

HIGHEST_US = 120_000_000  # two minutes: anything slower is a stall anyway


def new_histogram() -> HdrHistogram:
    """A latency histogram in microseconds, 3 significant digits."""
    return HdrHistogram(1, HIGHEST_US, 3)


def decode_histogram(encoded: str) -> HdrHistogram:
    """A histogram from `encode_histogram`'s text."""
    return HdrHistogram.decode(encoded) if encoded else new_histogram()


def encode_histogram(hist: HdrHistogram) -> str:
    """A histogram as compact text: HdrHistogram's compressed base64 (as in results.json)."""
    return hist.encode().decode() if hist.get_total_count() else ""


@dataclass
class Ledger:
    """Deliveries owed and made for the messages of one tag."""

    tag: str
    sent: int = 0
    expected: int = 0
    delivered: int = 0
    disordered: int = 0
    hist: HdrHistogram = field(default_factory=new_histogram)
    _last: dict[tuple[int, str], int] = field(default_factory=dict)

    def sender(self, member: int) -> str:
        """The probe sender id of `member` for this tag."""
        return f"{self.tag}.{member}"

    def owns(self, probe: Probe) -> bool:
        """True when the probe was sent under this ledger's tag."""
        return probe.sender.startswith(self.tag) and probe.sender[len(self.tag)] == "."

    def on_send(self, fanout: int) -> None:
        """One message sent into a room of `fanout` members (the sender included)."""
        self.sent += 1
        self.expected += fanout

    def on_receive(self, receiver: int, probe: Probe, now_ns: int) -> None:
        """`receiver` got `probe` at `now_ns`; a repeated or older seq counts as disordered."""
        key = (receiver, probe.sender)
        if probe.seq <= self._last.get(key, -1):
            self.disordered += 1
            return
        self._last[key] = probe.seq
        self.delivered += 1
        self.hist.record_value(max(1, (now_ns - probe.sent_ns) // 1000))

    @property
    def lost(self) -> int:
        """Deliveries owed but not made (so far)."""
        return max(0, self.expected - self.delivered)

    def summary(self) -> dict[str, Any]:
        """Counts, percentiles (microseconds) and the encoded histogram."""
        h = self.hist
        return {
            "sent": self.sent,
            "expected": self.expected,
            "delivered": self.delivered,
            "lost": self.lost,
            "disordered": self.disordered,
            "p50_us": h.get_value_at_percentile(50),
            "p99_us": h.get_value_at_percentile(99),
            "max_us": h.get_max_value(),
            "hist": encode_histogram(h),
        }
