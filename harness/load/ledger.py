"""The delivery ledger and the cleanup checks of one process: pure bookkeeping, no I/O.

Definitions (docs/load.md explains them at length):

- A member is one connection (one incarnation of a user). Its window opens when its welcome
  arrives (from a server that sends none: its join plus the profile's settle time, `admitted`)
  and closes when its connection ends (`until`), or at the run's end.
- Expected recipients of a message sent at time T by S: every reading member R (not a slow
  consumer; S itself included, for its own copy, unless the server does not echo) of S's room
  whose window holds T and that
  either received it or stayed until T + drain. A message S sent in the last `drain` before
  its own connection ended counts only where it arrived (an abrupt drop may discard it before
  the server reads it).
- lost = expected deliveries that never arrived; duplicated = a message received again by the
  same member; out_of_order = a message received after a later message of the same sender;
  leaked = a probe received from a sender that is not in the receiver's room, or naming a
  message its sender never sent.
- replayed = a probe of a message sent before the receiver's connection started: history the
  server replays to a joiner, owed to nobody. It is no delivery, no latency sample, no
  duplicate and no out-of-order message, however often it comes.
- The profile shapes what is owed: without echo (`echo=False`) a sender is owed none of its
  own messages; on a server with one room for everybody (`one_room=True`) the members of other
  processes (or other runs) are in the room too, so their probes are `foreign`: not this
  process's to account, and no leak (a probe naming this process's `prefix` still is one).
- Cleanup: after an abrupt drop, every remaining reading member that stays connected until the
  deadline must receive `NAME left` by then; leave_missing counts drops where one did not.
  A welcome's `online` must lie between the members certainly present and that number plus the
  members whose join or leave is still in flight (on a one-room server, only the first bound:
  the room may hold others); online_mismatches counts welcomes that don't. Without leave
  announcements (`leaves=False`) no drop is checked.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from sys import intern

NS = 1_000_000_000

# What `Ledger.received` says about one probe.
FANOUT = 0
FANOUT_LATE = 1  # new to this member, but after a later message of the same sender
ECHO = 2  # the sender's own copy
ECHO_LATE = 3
DUPLICATE = 4
LEAKED = 5
REPLAYED = 6  # sent before the receiver's connection started
FOREIGN = 7  # one room for everybody: a sender of another process or run
EARLY = 8  # sent after the connection started but before its window opened: not owed
EARLY_LATE = 9  # the same, after a later message of the same sender


SMALL = 64
"""A member's bitmap of one sender's messages is an int while they are numbered below this
(no object at all below 8: CPython keeps the ints up to 256), and a bytearray past it. A
member keeps one per sender of its room (19 in rooms of 20): a bytearray each was 1.4 KiB
per member for the few messages most runs' members get (bench part 5: one every 10 s)."""


def highest_seen(bits: int | bytearray) -> int:
    """The highest sequence number a member's bitmap of one sender holds (-1: none).

    A bytearray bitmap is never longer than the byte of that number (it grows only to take a
    new bit), so its last byte is never 0 and the highest number is in it: no `hi` is kept
    beside the bitmaps (a dict of 19 per member in rooms of 20)."""
    if isinstance(bits, int):
        return bits.bit_length() - 1
    return 8 * len(bits) - 9 + bits[-1].bit_length() if bits else -1


def as_int(bits: int | bytearray) -> int:
    """A bitmap (int or bytearray, bit n = message n) as an int."""
    return bits if isinstance(bits, int) else int.from_bytes(bits, "little")


@dataclass(eq=False)
class Member:
    """One connection of a user: a name, a room and a window of membership."""

    uid: str
    name: str
    room: str
    reader: bool
    started: int
    since: int | None = None
    until: int | None = None
    gone_at: int | None = None  # when someone saw `NAME left`: the server no longer counts it
    seen: dict[str, int | bytearray] = field(default_factory=dict)
    """Sender -> the bitmap of its messages this member received (see `highest_seen`)."""
    heard: set[str] | None = None  # names of the `joined` it heard in a storm (None: none)


@dataclass(eq=False)
class _Drop:
    name: str
    room: str
    at: int
    waiting: set[Member]
    observers: int = 0  # len(waiting) at the drop: those who left it heard the `left`


@dataclass
class Totals:
    """Ledger and cleanup counters of one process (or of a merged run)."""

    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    leaked: int = 0
    abrupt_disconnects: int = 0
    leave_missing: int = 0
    online_mismatches: int = 0
    welcome_missing: int = 0
    replayed: int = 0
    foreign: int = 0
    welcomes: int = 0
    opened: int = 0
    server_closes: int = 0
    connections_lost: int = 0
    protocol_errors: int = 0
    reconnects: int = 0
    harness_errors: int = 0
    users: int = 0
    users_ended_by_server: int = 0


class Ledger:
    """Membership, send logs and receipts of every room of one process."""

    def __init__(
        self,
        drain_ns: int,
        leave_deadline_ns: int,
        *,
        echo: bool = True,
        leaves: bool = True,
        one_room: bool = False,
        prefix: str = "",
    ) -> None:
        self.drain_ns = drain_ns
        self.leave_deadline_ns = leave_deadline_ns
        self.echo = echo
        """The server relays a sender's own messages back to it (their copies are owed)."""
        self.leaves = leaves
        """The server announces leaves (abrupt drops get leave checks)."""
        self.one_room = one_room
        """The server has one room for everybody: members of other processes and runs are
        in it too (their probes are foreign; a welcome's count may include them)."""
        self.prefix = prefix
        """This process's sender ids start with it (with `one_room`, others are foreign)."""
        self.totals = Totals()
        self.rooms: dict[str, dict[str, Member]] = {}  # room -> name -> member (every one)
        self.uid_room: dict[str, str] = {}
        self.send_log: dict[str, array[int]] = {}  # uid -> actual send time (ns) by seq
        self.excluded: dict[str, list[tuple[int, int]]] = {}  # uid -> [lo, hi) seqs
        self.drops: list[_Drop] = []
        self.finalized = False
        self.storm_from: int | None = None
        """From then on (a reconnect storm), judged drops are kept in `leaves_judged`."""
        self.leaves_judged: list[tuple[int, int, int]] = []
        """(drop time, `left` owed, seen) of the drops judged: owed to each member present
        at the drop that heard it or stayed past the deadline."""
        self.window: tuple[int, int] | None = None
        """Send times whose lost messages `lost_in_window` counts (a reconnect storm)."""
        self.lost_in_window = 0

    # -- membership --------------------------------------------------------------------------

    def joining(self, uid: str, name: str, room: str, reader: bool, now: int) -> Member:
        """A connection of `uid` to `room` under `name` starts (handshake under way)."""
        member = Member(uid, name, room, reader, now)
        self.rooms.setdefault(room, {})[name] = member
        self.uid_room[uid] = room
        self.send_log.setdefault(uid, array("q"))
        return member

    def welcomed(self, member: Member, online: int | None, now: int) -> bool:
        """`member`'s welcome arrived saying `online` (None: not judged); False (and counted)
        when it is wrong."""
        self.admitted(member, now)
        if online is None:
            return True
        low, high = self.online_bounds(member, now)
        if self.one_room:  # others may share the server's one room: only too few is certain
            high = max(high, online)
        if low <= online <= high:
            return True
        self.totals.online_mismatches += 1
        return False

    def admitted(self, member: Member, now: int) -> None:
        """`member`'s window opens at `now`: its welcome, or (from a server that sends none)
        its join plus the profile's settle time. Counted with the welcomes."""
        member.since = now
        self.totals.welcomes += 1

    def online_bounds(self, joiner: Member, now: int) -> tuple[int, int]:
        """The least and most members a correct server can count in `joiner`'s welcome.

        The server registered the joiner somewhere between `joiner.started` and now. A member
        welcomed before the joiner started, and neither ended nor announced as left since, is
        certainly counted; one whose join or leave overlaps that span may or may not be; one
        that ended over `leave_deadline` before the joiner started must no longer be counted.
        """
        start = joiner.started
        certain = uncertain = 0
        for m in self.rooms.get(joiner.room, {}).values():
            if m is joiner or (m.gone_at is not None and m.gone_at < start):
                continue
            if m.until is not None and m.until < start:
                uncertain += start - m.until <= self.leave_deadline_ns
            elif m.until is None and m.gone_at is None and m.since is not None and m.since < start:
                certain += 1
            else:
                uncertain += 1
        return certain + 1, certain + 1 + uncertain

    def ended(self, member: Member, now: int, abrupt: bool = False) -> None:
        """`member`'s connection ended at `now`; `abrupt`: dropped by the harness, no close."""
        if member.until is not None:
            return
        member.until = now
        self._exclude_tail(member.uid, now)
        if abrupt:
            self.totals.abrupt_disconnects += 1
            if not self.leaves:  # nothing to wait for: no leave checks
                return
            waiting = {
                m
                for m in self.rooms.get(member.room, {}).values()
                if m.reader and m.since is not None and m.until is None and m.gone_at is None
            }
            self.drops.append(_Drop(member.name, member.room, now, waiting, len(waiting)))

    def _exclude_tail(self, uid: str, now: int) -> None:
        log = self.send_log.get(uid)
        if log:
            lo = bisect.bisect_right(log, now - self.drain_ns)
            if lo < len(log):
                self.excluded.setdefault(uid, []).append((lo, len(log)))

    def saw_left(self, observer: Member, name: str, now: int) -> None:
        """`observer` received `NAME left` at `now`."""
        gone = self.rooms.get(observer.room, {}).get(name)
        if gone is not None and gone.gone_at is None:
            gone.gone_at = now
        for drop in self.drops:
            if drop.name == name and drop.room == observer.room:
                drop.waiting.discard(observer)

    def check_leaves(self, now: int) -> int:
        """Judge the drops whose deadline has passed; the number of new leave_missing."""
        missing = 0
        pending = []
        for drop in self.drops:
            deadline = drop.at + self.leave_deadline_ns
            stayed = {m for m in drop.waiting if m.until is None or m.until > deadline}
            heard = drop.observers - len(drop.waiting)
            if not stayed:
                self._judged(drop, heard, heard)
            elif now < deadline:
                pending.append(drop)
            else:
                missing += 1
                self._judged(drop, heard + len(stayed), heard)
        self.drops = pending
        self.totals.leave_missing += missing
        return missing

    def _judged(self, drop: _Drop, owed: int, seen: int) -> None:
        if self.storm_from is not None and drop.at >= self.storm_from:
            self.leaves_judged.append((drop.at, owed, seen))

    def leaves_pending_until(self) -> int | None:
        """When the last still-unjudged drop's deadline passes (None: nothing pending)."""
        return max((d.at + self.leave_deadline_ns for d in self.drops), default=None)

    # -- messages ----------------------------------------------------------------------------

    def next_seq(self, uid: str) -> int:
        """The sequence number `uid`'s next message gets."""
        return len(self.send_log[uid])

    def sent(self, uid: str, now: int) -> int:
        """`uid` sends its next message at `now`; returns its sequence number."""
        log = self.send_log[uid]
        log.append(now)
        return len(log) - 1

    def received(self, member: Member, sender: str, seq: int) -> int:
        """`member` received message `seq` of `sender`: FANOUT, FANOUT_LATE, DUPLICATE, ..."""
        bits = member.seen.get(sender)
        if bits is None:  # a sender's room never changes: checking its first probe is enough
            room, prefix = self.uid_room.get(sender), self.prefix
            if room != member.room:
                if room is None and self.one_room and not (prefix and sender.startswith(prefix)):
                    self.totals.foreign += 1
                    return FOREIGN
                self.totals.leaked += 1
                return LEAKED
            # one copy of the sender's uid for every member's dict, not one per member
            # (it comes out of each frame's text: 19 copies of it per room of 20)
            sender, bits = intern(sender), 0
        log = self.send_log[sender]
        if not -1 < seq < len(log):  # never sent: forged or corrupted on the way
            self.totals.leaked += 1
            return LEAKED
        if log[seq] < member.started:  # history: before this connection existed
            self.totals.replayed += 1
            return REPLAYED
        echo = ECHO if sender == member.uid else FANOUT
        since = member.since
        if since is None or log[seq] < since:  # finalize counts it neither owed nor delivered
            echo = EARLY
        if isinstance(bits, int):
            if seq < SMALL:
                mask = 1 << seq
                if bits & mask:
                    self.totals.duplicated += 1
                    return DUPLICATE
                member.seen[sender] = bits | mask
                if bits > mask:  # a later message of the sender came first
                    self.totals.out_of_order += 1
                    return echo + 1  # ECHO_LATE, FANOUT_LATE or EARLY_LATE
                return echo
            member.seen[sender] = bits = _grown(bits)
        return self._received_large(bits, seq, echo)

    def _received_large(self, bits: bytearray, seq: int, echo: int) -> int:
        byte, bit = seq >> 3, 1 << (seq & 7)
        last = len(bits) - 1
        if byte > last:  # past the highest seen: in order; the bitmap grows to its byte
            if byte > len(bits):
                bits.extend(bytes(byte - len(bits)))
            bits.append(bit)
            return echo
        held = bits[byte]
        if held & bit:
            self.totals.duplicated += 1
            return DUPLICATE
        bits[byte] = held | bit
        if byte < last or held >= bit:  # a later message of the sender came first
            self.totals.out_of_order += 1
            return echo + 1  # ECHO_LATE, FANOUT_LATE or EARLY_LATE
        return echo

    # -- the end -----------------------------------------------------------------------------

    def finalize(self, now: int) -> dict[int, int]:
        """Close every window at `now` and count expected, delivered and lost.

        Returns lost messages by the second (epoch) they were sent in.
        """
        lost_by_second: dict[int, int] = {}
        if self.finalized:
            return lost_by_second
        self.finalized = True
        for members in self.rooms.values():
            for m in members.values():
                if m.until is None:
                    m.until = now
        for members in self.rooms.values():
            senders = {m.uid for m in members.values()}
            for r in members.values():
                if r.reader and r.since is not None:
                    for uid in senders:
                        if self.echo or uid != r.uid:
                            self._settle(r, uid, lost_by_second)
        self.totals.delivered = self.totals.expected - self.totals.lost
        return lost_by_second

    def _settle(self, r: Member, uid: str, lost_by_second: dict[int, int]) -> None:
        assert r.since is not None and r.until is not None
        log = self.send_log[uid]
        lo = bisect.bisect_left(log, r.since)
        full = _range_mask(lo, bisect.bisect_right(log, r.until))
        if not full:
            return
        strict = _range_mask(lo, bisect.bisect_right(log, r.until - self.drain_ns))
        for a, b in self.excluded.get(uid, ()):
            strict &= ~_range_mask(a, b)
        seen = as_int(r.seen.get(uid, 0))
        self.totals.expected += (strict | (full & seen)).bit_count()
        missing = strict & ~seen
        if missing:
            self.totals.lost += missing.bit_count()
            window = self.window
            for seq in _bits(missing):
                second = log[seq] // NS
                lost_by_second[second] = lost_by_second.get(second, 0) + 1
                if window is not None and window[0] <= log[seq] <= window[1]:
                    self.lost_in_window += 1


def _grown(bits: int) -> bytearray:
    """An int bitmap as the bytearray that takes over from SMALL on (no trailing 0 byte)."""
    return bytearray(bits.to_bytes((bits.bit_length() + 7) // 8, "little"))


def _range_mask(lo: int, hi: int) -> int:
    """An int whose bits lo .. hi-1 are set."""
    return ((1 << (hi - lo)) - 1) << lo if hi > lo else 0


def _bits(n: int) -> Iterator[int]:
    """Positions of the set bits of `n`."""
    while n:
        low = n & -n
        yield low.bit_length() - 1
        n ^= low
