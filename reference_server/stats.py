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
