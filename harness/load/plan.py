"""Who goes where: room sizes, the room and kind of each user slot, and the send schedule.

Every room lives entirely inside one Locust process, so each process knows its rooms' exact
membership at every send time. A process builds its own `RoomPlan` from the same list of room
sizes; its users take slots 0, 1, 2, ... in spawn order. Slots interleave rooms so rooms fill
evenly while users spawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.errors import UsageError

KINDS = ("chatter", "lurker", "churner", "slow")
"""User kinds: chatters send and read, lurkers only read, churners chat and drop their TCP
connection abruptly now and then (then rejoin), slow consumers join and stop reading."""


def room_sizes(users: int, rooms: int, spec: str = "even") -> list[int]:
    """Sizes of `rooms` rooms holding `users` users, shaped by `spec`.

    `even`: equal sizes; `zipf`: size of room k proportional to 1/k; `W1,W2,...`: relative
    weights, repeated over the rooms (`1,1,10`: every third room ten times larger).
    """
    if users < 1 or rooms < 1:
        raise UsageError("--users and --rooms must be at least 1")
    rooms = min(rooms, users)
    weights = _weights(rooms, spec)
    total = sum(weights)
    exact = [users * w / total for w in weights]
    sizes = [max(1, math.floor(x)) for x in exact]
    order = sorted(range(rooms), key=lambda k: exact[k] - math.floor(exact[k]), reverse=True)
    k = 0
    while sum(sizes) < users:
        sizes[order[k % rooms]] += 1
        k += 1
    while sum(sizes) > users:  # only when max(1, ...) lifted tiny rooms
        big = max(range(rooms), key=lambda j: sizes[j])
        sizes[big] -= 1
    return sizes


def _weights(rooms: int, spec: str) -> list[float]:
    if spec == "even":
        return [1.0] * rooms
    if spec == "zipf":
        return [1 / (k + 1) for k in range(rooms)]
    try:
        listed = [float(w) for w in spec.split(",")]
    except ValueError:
        raise UsageError(
            f"--room-size: expected even, zipf or weights like 1,1,10: {spec!r}"
        ) from None
    if not listed or not all(math.isfinite(w) and w > 0 for w in listed):  # NaN too
        raise UsageError(f"--room-size weights must be positive numbers: {spec!r}")
    return [listed[k % len(listed)] for k in range(rooms)]


def process_plan(users: int, rooms: int, spec: str, processes: int) -> list[int]:
    """The room sizes each of `processes` processes runs (every process at least one room)."""
    per_process = math.ceil(users / processes)
    rooms_each = max(1, round(rooms / processes))
    return room_sizes(per_process, rooms_each, spec)


@dataclass(frozen=True)
class Fractions:
    """Shares of users of each kind but chatters (the rest)."""

    churn: float = 0.0
    slow: float = 0.0
    lurk: float = 0.0

    def __post_init__(self) -> None:
        for name, value in (("churn", self.churn), ("slow", self.slow), ("lurk", self.lurk)):
            if not 0 <= value <= 1:
                raise UsageError(f"--{name} must be a fraction between 0 and 1, not {value}")
        if self.churn + self.slow + self.lurk > 1:
            raise UsageError("--churn, --slow and --lurkers add up to more than 1")


class RoomPlan:
    """Slot -> room and slot -> kind for one process."""

    def __init__(self, sizes: list[int], fractions: Fractions = Fractions()) -> None:
        if not sizes or min(sizes) < 1:
            raise UsageError("a room plan needs rooms of at least one member")
        self.sizes = sizes
        self.fractions = fractions
        ranked = [((j + 0.5) / size, room) for room, size in enumerate(sizes) for j in range(size)]
        self._slots = [room for _, room in sorted(ranked)]
        self._kinds = _spread_kinds(len(self._slots), fractions)

    def room(self, slot: int) -> int:
        """The room index of `slot`; slots past the plan wrap around onto the rooms again."""
        return self._slots[slot % len(self._slots)]

    def kind(self, slot: int) -> str:
        """The kind of `slot`; the plan's slots hold round(share * slots) users of each kind."""
        return self._kinds[slot % len(self._kinds)]


def _spread_kinds(slots: int, f: Fractions) -> list[str]:
    """Kinds for `slots` slots, each kind spread evenly (largest deficit first)."""
    shares = {"churner": f.churn, "slow": f.slow, "lurker": f.lurk}
    targets = {kind: round(share * slots) for kind, share in shares.items()}
    targets["chatter"] = max(0, slots - sum(targets.values()))
    given = dict.fromkeys(targets, 0)
    kinds = []
    for s in range(slots):
        kind = max(targets, key=lambda k: targets[k] * (s + 1) / slots - given[k])
        given[kind] += 1
        kinds.append(kind)
    return kinds


class Schedule:
    """Open-loop send times: message k of a sender is due at start + phase + k / rate."""

    def __init__(self, start_ns: int, rate: float, phase: float) -> None:
        if rate <= 0:
            raise UsageError("--rate must be positive")
        self.interval_ns = int(1e9 / rate)
        self.next_ns = start_ns + int(phase * self.interval_ns)

    def due(self) -> int:
        """The scheduled time of the next message, and advance the schedule."""
        due = self.next_ns
        self.next_ns += self.interval_ns
        return due

    def skip_to(self, t_ns: int) -> int:
        """Drop the messages due before `t_ns` (their sender had no connection); how many."""
        if t_ns <= self.next_ns:
            return 0
        n = -(-(t_ns - self.next_ns) // self.interval_ns)
        self.next_ns += n * self.interval_ns
        return n

    def restart(self, now_ns: int) -> None:
        """Closed-loop: the next message is due one interval after `now_ns`."""
        self.next_ns = now_ns + self.interval_ns
