"""File descriptors: every connection holds one, and a process out of them accepts nobody.

At start the server raises its soft RLIMIT_NOFILE to the hard limit (a default soft limit of
1,024 is common and is what ran out in the attack of issue 14), then keeps a share of the
descriptors for connections still in their handshake (`max_handshakes`, see
reference_server.handshake) and for its own files and Redis connections (`RESERVED`). Members
get the rest: past that, a newcomer is closed with 1013 instead of the process failing to
accept anything, `/healthz` included.
"""

from __future__ import annotations

import contextlib
import os
import resource
from typing import NamedTuple

RESERVED = 64
"""Descriptors kept for the listening sockets, the event loop, logs and Redis connections."""
_UNLIMITED_TARGET = 1 << 20


class Descriptors(NamedTuple):
    """The process's descriptor limit before and after `raise_limit`."""

    before: int
    limit: int


def raise_limit() -> Descriptors:
    """Raise the soft RLIMIT_NOFILE to the hard limit (as far as the system allows)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        # macOS caps it below an infinite hard limit: then it stays where it was
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return Descriptors(soft, _UNLIMITED_TARGET if now == resource.RLIM_INFINITY else now)


def member_limit(limit: int, max_handshakes: int, max_connections: int) -> int:
    """Members allowed at once: `max_connections` (0: no limit of its own), and never more
    than the descriptors left once handshakes and the server's own files have theirs."""
    room = max(1, limit - max_handshakes - RESERVED)
    return min(room, max_connections) if max_connections else room


def open_count() -> int | None:
    """Descriptors open in this process now (None where the system does not say)."""
    for path in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(path)) - 1  # the listing's own descriptor
        except OSError:
            continue
    return None
