"""The ledger follows the profile: no echo, one room for everybody, no leave announcements,
no welcome. Each rule both ways: a correct server of that shape is clean, a fault still shows."""

import pytest

from harness.load.ledger import ECHO, FANOUT, FOREIGN, LEAKED, NS, Ledger
from harness.load.recorder import Recorder
from harness.profile import LEFT, MESSAGE, OTHER, WELCOME, Event
from harness.protocol import encode_probe


def t(seconds: float) -> int:
    return int(seconds * NS)


def room(ledger: Ledger, *uids: str, at: float = 0.0) -> list:
    members = []
    for uid in uids:
        m = ledger.joining(uid, f"{uid}.1", "r", True, t(at))
        ledger.welcomed(m, len(members) + 1, t(at))
        members.append(m)
    return members


def test_without_echo_the_sender_is_owed_none_of_its_own_messages():
    ledger = Ledger(t(1), t(2), echo=False)
    _a, b, c = room(ledger, "a", "b", "c")
    for k in range(3):
        seq = ledger.sent("a", t(1 + k))
        assert ledger.received(b, "a", seq) == FANOUT
        assert ledger.received(c, "a", seq) == FANOUT
    ledger.finalize(t(10))
    assert (ledger.totals.expected, ledger.totals.lost) == (6, 0)


def test_with_echo_the_same_run_misses_the_senders_copies():
    ledger = Ledger(t(1), t(2), echo=True)
    _a, b, c = room(ledger, "a", "b", "c")
    for k in range(3):
        seq = ledger.sent("a", t(1 + k))
        ledger.received(b, "a", seq)
        ledger.received(c, "a", seq)
    ledger.finalize(t(10))
    assert (ledger.totals.expected, ledger.totals.lost) == (9, 3)


def test_without_echo_a_lost_fan_out_delivery_is_still_lost():
    ledger = Ledger(t(1), t(2), echo=False)
    _a, b, c = room(ledger, "a", "b", "c")
    for k in range(3):
        seq = ledger.sent("a", t(1 + k))
        ledger.received(b, "a", seq)
        if k != 1:
            ledger.received(c, "a", seq)
    assert ledger.finalize(t(10)) == {2: 1}
    assert (ledger.totals.expected, ledger.totals.lost) == (6, 1)


def test_an_echo_the_profile_did_not_promise_is_a_round_trip_not_a_fault():
    ledger = Ledger(t(1), t(2), echo=False)
    a, b = room(ledger, "a", "b")
    seq = ledger.sent("a", t(1))
    assert ledger.received(a, "a", seq) == ECHO
    ledger.received(b, "a", seq)
    ledger.finalize(t(10))
    assert (ledger.totals.expected, ledger.totals.lost, ledger.totals.duplicated) == (1, 0, 0)


def test_one_room_probes_of_other_processes_are_foreign_not_leaked():
    ledger = Ledger(t(1), t(2), one_room=True, prefix="abc123")
    (a,) = room(ledger, "abc123u0")
    assert ledger.received(a, "ffff00u3", 0) == FOREIGN
    assert ledger.received(a, "ffff00u3", 1) == FOREIGN
    assert ledger.received(a, "abc123u9", 0) == LEAKED  # this process has no such user
    assert ledger.received(a, "abc123u0", 5) == LEAKED  # never sent
    assert (ledger.totals.foreign, ledger.totals.leaked) == (2, 2)


def test_with_rooms_a_sender_of_no_room_here_is_a_leak():
    ledger = Ledger(t(1), t(2), one_room=False, prefix="abc123")
    (a,) = room(ledger, "abc123u0")
    assert ledger.received(a, "ffff00u3", 0) == LEAKED
    assert (ledger.totals.foreign, ledger.totals.leaked) == (0, 1)


@pytest.mark.parametrize(("one_room", "online", "ok"), [(True, 9, True), (False, 9, False)])
def test_one_room_welcomes_may_count_others_but_never_too_few(one_room, online, ok):
    ledger = Ledger(t(1), t(2), one_room=one_room, prefix="p")
    room(ledger, "a", "b", "c")
    joiner = ledger.joining("j", "j.1", "r", True, t(1))
    assert ledger.welcomed(joiner, online, t(1.1)) is ok
    late = ledger.joining("k", "k.1", "r", True, t(2))
    assert ledger.welcomed(late, 3, t(2.1)) is False  # a, b, c and j are certainly counted
    assert ledger.totals.online_mismatches == (1 if ok else 2)


def test_a_welcome_without_a_judged_count_opens_the_window_only():
    ledger = Ledger(t(1), t(2))
    (_a,) = room(ledger, "a")
    b = ledger.joining("b", "b.1", "r", True, t(1))
    assert ledger.welcomed(b, None, t(1.5)) is True
    assert b.since == t(1.5) and ledger.totals.online_mismatches == 0


def test_without_leave_announcements_no_drop_is_checked():
    for leaves, missing in ((False, 0), (True, 1)):
        ledger = Ledger(t(1), t(2), leaves=leaves)
        a, _b = room(ledger, "a", "b")
        ledger.ended(a, t(3), abrupt=True)
        assert ledger.totals.abrupt_disconnects == 1
        assert ledger.check_leaves(t(10)) == missing


def test_admission_opens_the_window_of_a_member_that_got_no_welcome():
    ledger = Ledger(t(1), t(2))
    a = ledger.joining("a", "a.1", "r", True, t(0))
    b = ledger.joining("b", "b.1", "r", True, t(0))
    ledger.admitted(a, t(0.5))
    early = ledger.sent("a", t(0.7))  # b is not in the room yet: not owed to it
    ledger.admitted(b, t(1))
    late = ledger.sent("a", t(2))
    for seq in (early, late):
        ledger.received(a, "a", seq)
    ledger.finalize(t(10))
    assert ledger.totals.welcomes == 2
    assert (ledger.totals.expected, ledger.totals.lost) == (3, 1)  # b missed `late`


def probe_event(sender: str, seq: int, sent: int) -> Event:
    return Event(MESSAGE, "x", encode_probe(sender, seq, sent), None, None, None, b"")


def test_the_recorder_counts_foreign_probes_in_their_second():
    ledger = Ledger(t(1), t(2), one_room=True, prefix="abc123")
    rec = Recorder(ledger, {"r": 1})
    m = ledger.joining("abc123u0", "n", "r", True, 0)
    rec.on_frame(m, Event(WELCOME, online=50), t(1))
    rec.on_frame(m, probe_event("ffff00u1", 0, t(1)), t(1.5))
    counts = rec.buckets[1].counts
    assert counts["foreign"] == 1 and counts["leaked"] == 0 and counts["delivered"] == 0
    assert counts["online_mismatches"] == 0  # one room: 50 members may be there


def test_the_recorder_judges_no_count_it_was_told_not_to():
    rec = Recorder(Ledger(t(1), t(2)), {"r": 1}, check_online=False)
    m = rec.ledger.joining("a", "a.1", "r", True, 0)
    rec.on_frame(m, Event(WELCOME, online=None), t(1))
    assert m.since == t(1) and rec.ledger.totals.online_mismatches == 0


def test_the_recorder_reads_leaves_by_the_profiles_member_name():
    ledger = Ledger(t(1), t(2))
    rec = Recorder(ledger, {"r": 2})
    a = ledger.joining("a", "1000000001", "r", True, 0)  # fastapi-docs: named by number
    b = ledger.joining("b", "1000000002", "r", True, 0)
    for m in (a, b):
        rec.on_frame(m, Event(WELCOME, online=None), 1)
    rec.ended(a, t(1), abrupt=True)
    rec.on_frame(b, Event(LEFT, user="1000000001"), t(1.5))
    assert ledger.check_leaves(t(10)) == 0
    assert rec.on_frame(b, Event(OTHER, raw="You wrote: hi"), t(2)) == OTHER
