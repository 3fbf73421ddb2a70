"""The receive path of one process: frames in, histograms and per-second counters out.

`Recorder.on_frame` runs once per received frame with the `Event` the protocol profile made of
it (`harness.profile`: for JSON, one orjson parse and precompiled matchers), so it stays lean:
the event's kind, a prefix check, the probe decoded (`decode_probe` inlined), one ledger lookup
and one count in HdrHistogram's layout (`hist.index`, inlined). No Locust event and no pydantic
per frame. Latencies are integer microseconds from `time.time_ns()`, the one clock every process
of a machine shares.

Everything is kept per wall-clock second (epoch seconds) in `Bucket`s; `take()` hands the
buckets filled since the last call to whoever reports them (a Locust worker to its master, or
the local runner to itself) and starts afresh, so merging reports by addition is exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.load import hist
from harness.load.frames import CLOSED, HARNESS, PROTOCOL, Ending, invalid_utf8
from harness.load.ledger import (
    DUPLICATE,
    EARLY,
    ECHO_LATE,
    FANOUT_LATE,
    FOREIGN,
    LEAKED,
    NS,
    Ledger,
    Member,
)
from harness.load.storm import RESTART, StormBook, joins_owed
from harness.profile import JOINED, LEFT, MESSAGE, OTHER, WELCOME, Event
from harness.protocol.probe import PREFIX

_SUB_MASK, _SHIFT_BASE, _HALF_BITS = hist.SUB_MASK, hist.SHIFT_BASE, hist.HALF_BITS

COUNTERS = (
    "sent",
    "delivered",
    "lost",
    "duplicated",
    "out_of_order",
    "leaked",
    "replayed",
    "foreign",
    "leave_missing",
    "abrupt_disconnects",
    "online_mismatches",
    "connect_errors",
    "unsent",
    "server_closes",
    "connections_lost",
    "protocol_errors",
    "reconnects",
    "connects",
)


class Bucket:
    """What one process saw in one second.

    Latencies are counted into plain dicts (`hist.new_counts`), one per room size and one for
    round trips; `fanout` and `rtt` give them as HdrHistograms.
    """

    __slots__ = (
        "connect_counts",
        "connections",
        "counts",
        "cpu",
        "fanout_counts",
        "rtt_counts",
        "saturated",
        "under_planned",
    )

    def __init__(self) -> None:
        self.fanout_counts: dict[int, dict[int, int]] = {}  # room size -> latency counts
        self.rtt_counts = hist.new_counts()
        self.connect_counts = hist.new_counts()  # TCP + handshake (+ welcome) latencies
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.connections = 0
        self.under_planned = 0  # users without the connection the plan gave them, at most
        self.cpu = 0.0
        self.saturated = False

    def fanout_for(self, size: int) -> dict[int, int]:
        """The fan-out latency counts of rooms of `size` members."""
        c = self.fanout_counts.get(size)
        if c is None:
            c = self.fanout_counts[size] = hist.new_counts()
        return c

    @property
    def fanout(self) -> dict[int, HdrHistogram]:
        """Fan-out latencies by room size, as histograms."""
        return {size: hist.to_histogram(c) for size, c in self.fanout_counts.items()}

    @property
    def rtt(self) -> HdrHistogram:
        """Round-trip latencies (the senders' own copies), as a histogram."""
        return hist.to_histogram(self.rtt_counts)

    def encode(self) -> dict[str, Any]:
        """A JSON-able form (for Locust's worker-to-master messages)."""
        rtt = self.rtt
        return {
            "fanout": {str(size): hist.encode(h) for size, h in self.fanout.items()},
            "rtt": hist.encode(rtt) if rtt.get_total_count() else "",
            "connect": (
                hist.encode(hist.to_histogram(self.connect_counts)) if self.connect_counts else ""
            ),
            "counts": self.counts,
            "connections": self.connections,
            "under_planned": self.under_planned,
            "cpu": self.cpu,
            "saturated": self.saturated,
        }


class Recorder:
    """Ledger plus per-second buckets of one process."""

    def __init__(
        self, ledger: Ledger, room_sizes: dict[str, int], check_online: bool = True
    ) -> None:
        self.ledger = ledger
        self.room_sizes = room_sizes
        self.check_online = check_online
        """Judge the welcomes' `online` (the profile's welcome carries it, and this process
        knows every member of its rooms)."""
        self.buckets: dict[int, Bucket] = {}
        self.on_rtt: Callable[[int], None] | None = None
        self._sec = -1
        self._cur = Bucket()
        self.totals_sent = False
        self.connect_errors: list[str] = []
        self.fanout_recorded = 0
        self.server_closes: dict[str, int] = {}  # close code -> connections
        self.protocol_errors: dict[str, int] = {}  # the code chatbench failed them with
        self.protocol_reasons: list[str] = []
        self._users: set[str] = set()
        self._users_ended: set[str] = set()
        self.storm: StormBook | None = None
        self.storm_report: dict[str, Any] | None = None
        self.track_joins = False
        """Keep the `joined` each member hears (`Member.heard`) from the storm until a
        deadline after its last return: the storm judges them."""

    def bucket(self, sec: int) -> Bucket:
        """The bucket of epoch second `sec`."""
        b = self.buckets.get(sec)
        if b is None:
            b = self.buckets[sec] = Bucket()
        return b

    def _current(self, now: int) -> Bucket:
        sec = now // NS
        if sec != self._sec:
            self._sec = sec
            self._cur = self.bucket(sec)
        return self._cur

    # -- hot path ----------------------------------------------------------------------------

    def on_frame(self, member: Member, event: Event | None, now: int) -> str | None:
        """Account for the event of one frame `member` received at `now` (ns); its kind.

        `event` is what the profile's session made of the frame (None: a frame of the
        protocol's own, a Socket.IO ping). An event's text is a str (the matchers see to it).
        """
        if event is None:
            return None
        kind = event.kind
        if kind == MESSAGE:  # == not `is`: an adapter may build its kinds at run time
            text = event.text
            if text is not None and text.startswith(PREFIX):
                self._probe(member, text, now)
        elif kind == WELCOME:
            if member.since is None:
                self._welcomed(member, event.online, now)
        elif kind == LEFT:
            if event.user is not None:
                self.ledger.saw_left(member, event.user, now)
        elif kind == JOINED:
            if self.track_joins and event.user is not None:
                self._heard(member, event.user, now)
        elif kind == OTHER and type(event.raw) is bytes:
            _check_utf8(event.raw)  # orjson rejects invalid UTF-8: only here can it be that
        return kind

    def _heard(self, member: Member, name: str, now: int) -> None:
        """`member` heard `name joined`: kept from the storm's start until its joins' deadline."""
        storm = self.storm
        if storm is None or storm.over(now, self.ledger.leave_deadline_ns):
            return
        heard = member.heard
        if heard is None:
            heard = member.heard = set()
        heard.add(name)

    def _welcomed(self, member: Member, online: int | None, now: int) -> None:
        if not self.check_online:
            online = None
        elif online is None:  # the profile's welcome carries a count, this one did not
            online = -1
        if not self.ledger.welcomed(member, online, now):
            self._current(now).counts["online_mismatches"] += 1

    def _probe(self, member: Member, text: str, now: int) -> None:
        # decode_probe, inlined (this runs for every delivery): PREFIX SENDER:SEQ:SENT_NS:...
        parts = text.split(":", 4)
        if len(parts) < 5:
            return
        try:
            seq, sent_ns = int(parts[2]), int(parts[3])
        except ValueError:
            return
        code = self.ledger.received(member, parts[1], seq)
        b = self._cur if now // NS == self._sec else self._current(now)
        if code <= ECHO_LATE:  # a first receipt
            us = (now - sent_ns) // 1000
            if us < hist.LOWEST_US or us > hist.HIGHEST_US:
                us = hist.clamp_us(us)
            if code <= FANOUT_LATE:
                counts = b.fanout_for(self.room_sizes.get(member.room, 0))
                self.fanout_recorded += 1
            else:
                counts = b.rtt_counts
                if self.on_rtt is not None:
                    self.on_rtt(us)
            shift = (us | _SUB_MASK).bit_length() - _SHIFT_BASE  # hist.index, inlined
            slot = (shift << _HALF_BITS) + (us >> shift)
            counts[slot] = counts.get(slot, 0) + 1
            tally = b.counts
            tally["delivered"] += 1
            if code & 1:  # FANOUT_LATE or ECHO_LATE
                tally["out_of_order"] += 1
        elif code == DUPLICATE:
            b.counts["duplicated"] += 1
        elif code == LEAKED:
            b.counts["leaked"] += 1
        elif code == FOREIGN:
            b.counts["foreign"] += 1
        elif code >= EARLY:  # sent before this member's window opened: not owed, not timed
            if code & 1:  # EARLY_LATE: the ledger counts it out of order too
                b.counts["out_of_order"] += 1
        else:  # REPLAYED
            b.counts["replayed"] += 1

    # -- membership and sends ----------------------------------------------------------------

    def sent(self, uid: str, now: int) -> int:
        """`uid` sends a message now; its sequence number."""
        self._current(now).counts["sent"] += 1
        return self.ledger.sent(uid, now)

    def ended(self, member: Member, now: int, abrupt: bool = False) -> None:
        """`member`'s connection ended (see Ledger.ended)."""
        if abrupt and member.until is None:
            self._current(now).counts["abrupt_disconnects"] += 1
        self.ledger.ended(member, now, abrupt)

    def connected(self, member: Member, now: int, reconnect: bool) -> None:
        """`member`'s handshake completed; `reconnect`: the server had ended its user's last."""
        totals = self.ledger.totals
        totals.opened += 1
        if reconnect:
            totals.reconnects += 1
            self._current(now).counts["reconnects"] += 1
        if member.reader:
            self._users.add(member.uid)

    def server_ended(self, member: Member, now: int, ending: Ending) -> None:
        """`member`'s connection ended and the harness did not end it: count how."""
        totals = self.ledger.totals
        if ending.how == HARNESS:  # chatbench's own bug: never the server's
            totals.harness_errors += 1
            return
        if member.reader and not self._restarted(member):
            self._users_ended.add(member.uid)
        counts = self._current(now).counts
        if ending.how == CLOSED:
            totals.server_closes += 1
            counts["server_closes"] += 1
            _tally(self.server_closes, str(ending.code))
        elif ending.how == PROTOCOL:
            totals.protocol_errors += 1
            counts["protocol_errors"] += 1
            _tally(self.protocol_errors, str(ending.code))
            if len(self.protocol_reasons) < 5:
                self.protocol_reasons.append(ending.detail)
        else:
            totals.connections_lost += 1
            counts["connections_lost"] += 1

    def _restarted(self, member: Member) -> bool:
        """Whether `member` was connected when the planned server restart began: its end
        is the storm's, not the server's failure."""
        storm = self.storm
        return (
            storm is not None
            and storm.cause == RESTART
            and member.uid in storm.dropped
            and member.started < storm.at_ns
        )

    def connect_done(self, us: int, now: int) -> None:
        """A connection is up (handshake, and welcome where the profile has one) `us`
        microseconds after its TCP connect began."""
        b = self._current(now)
        b.counts["connects"] += 1
        slot = hist.index(hist.clamp_us(us))
        b.connect_counts[slot] = b.connect_counts.get(slot, 0) + 1

    def start_storm(self, book: StormBook) -> None:
        """A reconnect storm begins: drops from now on are judged for it."""
        self.storm = book
        self.ledger.storm_from = book.at_ns

    def unsent(self, n: int, now: int) -> None:
        """`n` messages were due while their sender had no connection."""
        self._current(now).counts["unsent"] += n

    def welcome_missing(self, member: Member) -> None:
        """`member` connected but its welcome never came (it is nobody's recipient)."""
        self.ledger.totals.welcome_missing += 1

    def connect_failed(self, reason: str) -> None:
        """A connection attempt failed (kept: the first few reasons)."""
        self._current(time.time_ns()).counts["connect_errors"] += 1
        if len(self.connect_errors) < 5:
            self.connect_errors.append(reason)

    def tick(
        self,
        sec: int,
        now: int,
        connections: int,
        cpu: float,
        saturated: bool,
        under_planned: int = 0,
    ) -> None:
        """Once a second, just before epoch second `sec` ends: its gauges; due leave checks."""
        b = self.bucket(sec)
        b.connections = connections
        b.under_planned = max(b.under_planned, under_planned)
        b.cpu = max(b.cpu, cpu)
        b.saturated = b.saturated or saturated
        missing = self.ledger.check_leaves(now)
        if missing:
            self._current(now).counts["leave_missing"] += missing

    def finalize(self, now: int) -> None:
        """End the run: judge the remaining leave checks and count lost messages."""
        missing = self.ledger.check_leaves(now)
        if missing:
            self._current(now).counts["leave_missing"] += missing
        storm = self.storm
        if storm is not None:
            drain = self.ledger.drain_ns  # the messages in flight around the drop and return
            self.ledger.window = (storm.at_ns - drain, storm.end_ns(now) + drain)
        for sec, lost in self.ledger.finalize(now).items():
            self.bucket(sec).counts["lost"] += lost
        if storm is not None:
            self.storm_report = storm.report(self._storm_figures(storm, now))

    def _storm_figures(self, storm: StormBook, now: int) -> dict[str, int]:
        """Lost messages and `left` / `joined` announcements across the storm."""
        ledger = self.ledger
        lo, hi = storm.at_ns, storm.end_ns(now)
        left = [(owed, seen) for at, owed, seen in ledger.leaves_judged if lo <= at <= hi]
        joined = [(0, 0)]
        if self.track_joins:
            deadline = ledger.leave_deadline_ns
            joined += [joins_owed(m.values(), (lo, hi), deadline) for m in ledger.rooms.values()]
        return {
            "lost": ledger.lost_in_window,
            "left_owed": sum(o for o, _ in left),
            "left_seen": sum(s for _, s in left),
            "joined_owed": sum(o for o, _ in joined),
            "joined_seen": sum(s for _, s in joined),
        }

    # -- reporting ---------------------------------------------------------------------------

    def take(self, final: bool = False) -> dict[str, Any]:
        """The buckets filled since the last call (and the ledger totals when `final`)."""
        report: dict[str, Any] = {
            "buckets": {str(sec): b.encode() for sec, b in self.buckets.items()},
        }
        self.buckets = {}
        self._sec = -1
        if final and not self.totals_sent:
            self.totals_sent = True
            totals = self.ledger.totals
            totals.users, totals.users_ended_by_server = len(self._users), len(self._users_ended)
            report["totals"] = {**asdict(totals), "fanout_recorded": self.fanout_recorded}
            report["connect_errors"] = self.connect_errors
            report["server_closes"] = self.server_closes
            report["protocol_errors"] = self.protocol_errors
            report["first_protocol_errors"] = self.protocol_reasons
            if self.storm_report is not None:
                report["storm"] = self.storm_report
        return report


def _tally(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def _check_utf8(payload: bytes | str) -> None:
    """ProtocolViolation (1007) unless `payload` is UTF-8 (RFC 6455 8.1)."""
    if isinstance(payload, str):
        return
    try:
        payload.decode()
    except UnicodeDecodeError as exc:
        raise invalid_utf8(exc) from None
