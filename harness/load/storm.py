"""The reconnect storm: a dropped user's backoff, and what the storm did. Pure, no I/O.

At the storm's instant every connection of a process ends at once: chatbench drops them
(`--storm-at`, an abrupt TCP reset as churn does) or the server does (`--restart-at`: the
reference server is restarted and closes its members with 1001). Each user that was connected
then reconnects with exponential backoff and full jitter (`backoff_s`) until it is back: its
new connection welcomed (from a server that sends no welcome: its handshake done).

`StormBook` keeps one process's storm: who was dropped, when each came back, and why attempts
failed. Its `report` travels to the master with the process's final report; `summarize` merges
every process's into the `storm` section of results.json (harness.results.Storm).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.load.ledger import NS, Member

BACKOFF_BASE_S = 0.5
"""The first reconnect waits up to this long (uniformly drawn)..."""
BACKOFF_CAP_S = 10.0
"""...attempt n up to min(cap, base * 2**n): the ceiling of one wait."""
DROP = "drop"
RESTART = "restart"


@dataclass
class StormPlan:
    """The run's reconnect storm: at `at_s` seconds (0: none), dropped by chatbench (DROP)
    or by the restarted server (RESTART); reconnects back off from `base` to `cap`."""

    at_s: float = 0.0
    cause: str = DROP
    base: float = BACKOFF_BASE_S
    cap: float = BACKOFF_CAP_S
    restart_pid: int = 0


def backoff_s(attempt: int, base: float, cap: float, draw: float) -> float:
    """The wait before reconnect attempt `attempt` (0 first): "full jitter", a uniform draw
    (`draw` in [0, 1)) of up to min(cap, base * 2**attempt) seconds (AWS Architecture Blog,
    "Exponential Backoff And Jitter"): a herd of clients spreads out instead of knocking
    again all at once."""
    ceiling = cap if attempt >= 63 else min(cap, base * 2.0**attempt)
    return draw * ceiling


def back_time(offsets_ms: list[int], dropped: int, share: float) -> float | None:
    """Seconds until `share` of the `dropped` users were back, from their sorted return
    offsets (ms); None when that many never came back (or nobody was dropped)."""
    if dropped <= 0:
        return None
    rank = math.ceil(dropped * share - 1e-9)
    if len(offsets_ms) < rank:
        return None
    return offsets_ms[rank - 1] / 1000


@dataclass
class StormBook:
    """One process's storm: `at_ns` the instant, `cause` DROP or RESTART."""

    at_ns: int
    cause: str = DROP
    dropped: set[str] = field(default_factory=set)
    """Users (uids) connected at the instant."""
    back_ns: dict[str, int] = field(default_factory=dict)
    """uid -> when its first connection after the storm was welcomed."""
    failed: dict[str, int] = field(default_factory=dict)
    """Failed reconnect attempts by HTTP status, close code, "refused", "timeout", ..."""
    last_back_ns: int = 0

    def over(self, now: int, grace_ns: int) -> bool:
        """Whether every dropped user was back `grace_ns` before `now` (the announcements of
        the storm's joins have arrived)."""
        return self.all_back() and now > self.last_back_ns + grace_ns

    def drop(self, uid: str) -> None:
        """`uid` was connected at the storm's instant: it is owed a way back."""
        self.dropped.add(uid)

    def back(self, uid: str, now: int) -> None:
        """`uid`'s connection is up again (welcomed) at `now`; only its first return counts."""
        if uid in self.dropped and uid not in self.back_ns:
            self.back_ns[uid] = at = max(now, self.at_ns)
            self.last_back_ns = max(self.last_back_ns, at)

    def attempt_failed(self, key: str) -> None:
        """A reconnect attempt failed for `key` (a status, a close code, "refused", ...)."""
        self.failed[key] = self.failed.get(key, 0) + 1

    def all_back(self) -> bool:
        """Whether every dropped user is back."""
        return len(self.back_ns) >= len(self.dropped)

    def end_ns(self, now: int) -> int:
        """Where the storm ends: the last return, or `now` while some user is still out."""
        if self.dropped and self.all_back():
            return self.last_back_ns
        return now

    def report(self, figures: dict[str, int]) -> dict[str, Any]:
        """The JSON-able form the master merges (`figures`: lost and announcements)."""
        return {
            "at_ns": self.at_ns,
            "cause": self.cause,
            "dropped": len(self.dropped),
            "back_ms": sorted((t - self.at_ns) // 1_000_000 for t in self.back_ns.values()),
            "failed": dict(self.failed),
            **figures,
        }


FIGURES = ("lost", "left_owed", "left_seen", "joined_owed", "joined_seen")


def summarize(reports: list[dict[str, Any]], start_s: int) -> dict[str, Any] | None:
    """results.json's `storm` from every process's `StormBook.report` (None without any)."""
    if not reports:
        return None
    offsets = sorted(ms for r in reports for ms in r["back_ms"])
    dropped = sum(int(r["dropped"]) for r in reports)
    failed: dict[str, int] = {}
    for r in reports:
        for key, n in r["failed"].items():
            failed[key] = failed.get(key, 0) + int(n)
    at_ns = min(int(r["at_ns"]) for r in reports)
    return {
        "at_s": round(at_ns / NS - start_s, 3),
        "cause": reports[0].get("cause", DROP),
        "dropped": dropped,
        "back": len(offsets),
        "back_99_s": back_time(offsets, dropped, 0.99),
        "back_100_s": back_time(offsets, dropped, 1.0),
        "failed_handshakes": dict(sorted(failed.items())),
        **{name: sum(int(r.get(name, 0)) for r in reports) for name in FIGURES},
    }


def joins_owed(
    members: Iterable[Member], window: tuple[int, int], deadline_ns: int
) -> tuple[int, int]:
    """`joined` announcements owed and seen in one room, for the joins in `window`.

    A member J welcomed in the window is owed to every reading member R of its room that was
    welcomed before J's handshake began (the server held R when J joined) and stayed until
    J's welcome plus the deadline; seen when R received `J joined` (`Member.heard`).
    """
    lo, hi = window
    ranked = sorted((m for m in members if m.since is not None), key=lambda m: m.since or 0)
    joiners = sorted(
        (m for m in ranked if m.since is not None and lo <= m.since <= hi), key=lambda m: m.started
    )
    owed = seen = 0
    untils: list[int] = []  # the readers welcomed so far (by since), by when they ended
    k = 0
    for j in joiners:
        while k < len(ranked) and (ranked[k].since or 0) < j.started:
            r = ranked[k]
            if r.reader:
                bisect.insort(untils, r.until if r.until is not None else 2**62)
            k += 1
        assert j.since is not None
        owed += len(untils) - bisect.bisect_left(untils, j.since + deadline_ns)
    by_name = {j.name: j for j in joiners}
    for r in ranked:
        for name in r.heard or ():
            heard = by_name.get(name)
            if heard is not None and _owes(r, heard, deadline_ns):
                seen += 1
    return owed, seen


def _owes(r: Member, j: Member, deadline_ns: int) -> bool:
    """Whether reader `r` is owed `j joined`."""
    if not r.reader or r.since is None or j.since is None or r.since >= j.started:
        return False
    return r.until is None or r.until >= j.since + deadline_ns
