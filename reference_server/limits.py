"""Token buckets: how fast a connection may send (flow.rate-limit). Pure: time is passed in."""

from __future__ import annotations


class TokenBucket:
    """`burst` tokens at first, refilled at `rate` per second up to `burst`; one per message."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one (after refilling for the time since the last call)."""
        tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return True
        self.tokens = tokens
        return False
