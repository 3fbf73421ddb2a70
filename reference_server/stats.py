"""Counters served by /stats."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Stats:
    """Server-wide counters since start-up (only the event loop touches them)."""

    connections_total: int = 0
    messages_relayed: int = 0
    queue_overflows: int = 0
    refused: int = 0
    rate_limited: int = 0
    """Messages refused with `rate_limited` (flow.rate-limit)."""
    flooders_closed: int = 0
    """Connections closed with 1008 for flooding on past their allowance of refusals."""
