"""The delivery ledger and cleanup checks, driven with made-up times (no sockets)."""

import pytest

from harness.load.ledger import (
    DUPLICATE,
    ECHO,
    FANOUT,
    FANOUT_LATE,
    LEAKED,
    NS,
    REPLAYED,
    Ledger,
    highest_seen,
)


def t(seconds: float) -> int:
    return int(seconds * NS)


def room(ledger: Ledger, *names: str, room_id: str = "r", at: float = 0.0, reader: bool = True):
    members = []
    for name in names:
        m = ledger.joining(name, f"{name}.1", room_id, reader, t(at))
        ledger.welcomed(m, len(members) + 1, t(at))
        members.append(m)
    return members


def new_ledger() -> Ledger:
    return Ledger(drain_ns=t(1), leave_deadline_ns=t(2))


def test_every_recipient_got_everything():
    ledger = new_ledger()
    a, b, c = room(ledger, "a", "b", "c")
    for k in range(3):
        seq = ledger.sent("a", t(1 + k))
        assert ledger.received(b, "a", seq) == FANOUT
        assert ledger.received(c, "a", seq) == FANOUT
        assert ledger.received(a, "a", seq) == ECHO
    ledger.finalize(t(10))
    totals = ledger.totals
    assert (totals.expected, totals.delivered, totals.lost) == (9, 9, 0)  # own copies included
    assert (totals.duplicated, totals.out_of_order, totals.leaked) == (0, 0, 0)


def test_a_missing_delivery_is_lost_in_its_send_second():
    ledger = new_ledger()
    a, b, c = room(ledger, "a", "b", "c")
    for k in range(3):
        seq = ledger.sent("a", t(1 + k))
        ledger.received(a, "a", seq)
        ledger.received(b, "a", seq)
        if k != 1:
            ledger.received(c, "a", seq)
    lost = ledger.finalize(t(10))
    assert (ledger.totals.expected, ledger.totals.lost, ledger.totals.delivered) == (9, 1, 8)
    assert lost == {2: 1}


def test_duplicate_and_out_of_order():
    ledger = new_ledger()
    a, b = room(ledger, "a", "b")
    s0, s1 = ledger.sent("a", t(1)), ledger.sent("a", t(1.1))
    assert ledger.received(a, "a", s0) == ECHO
    assert ledger.received(a, "a", s1) == ECHO
    assert ledger.received(b, "a", s1) == FANOUT
    assert ledger.received(b, "a", s0) == FANOUT_LATE
    assert ledger.received(b, "a", s0) == DUPLICATE
    ledger.finalize(t(10))
    totals = ledger.totals
    assert (totals.lost, totals.duplicated, totals.out_of_order) == (0, 1, 1)


@pytest.mark.parametrize(
    ("order", "late"),
    [
        ([0, 1, 2], []),
        ([2, 1, 0], [1, 0]),  # within one byte of the bitmap
        ([9, 3, 8, 10], [3, 8]),  # across bytes: 3 in an earlier byte, 8 below 9 in the last
        ([20, 5, 30, 21], [5, 21]),  # a gap of bytes, then one below the highest again
        ([7, 8, 6], [6]),  # the highest in the next byte's lowest bit
        ([62, 63, 64, 65], []),  # from an int bitmap to a bytearray, in order
        ([63, 64, 62], [62]),  # ...and one below the highest after it
        ([70, 5, 80, 71], [5, 71]),
        ([100, 3], [3]),  # the first message a late joiner gets is past the int's range
        ([5, 200, 6, 199, 201], [6, 199]),
    ],
)
def test_out_of_order_is_a_message_below_the_highest_seen(order, late):
    ledger = new_ledger()
    _, b = room(ledger, "a", "b")
    for _ in range(max(order) + 1):
        ledger.sent("a", t(1))
    codes = [ledger.received(b, "a", seq) for seq in order]
    assert [seq for seq, code in zip(order, codes, strict=True) if code == FANOUT_LATE] == late
    assert all(code in (FANOUT, FANOUT_LATE) for code in codes)
    assert highest_seen(b.seen["a"]) == max(order)
    assert [ledger.received(b, "a", seq) for seq in order] == [DUPLICATE] * len(order)
    assert highest_seen(bytearray()) == -1


def test_probe_from_another_room_is_leaked():
    ledger = new_ledger()
    room(ledger, "a", "b")
    [x] = room(ledger, "x", room_id="other")
    seq = ledger.sent("a", t(1))
    assert ledger.received(x, "a", seq) == LEAKED
    assert ledger.received(x, "stranger", 0) == LEAKED
    assert ledger.totals.leaked == 2


def test_messages_before_the_welcome_are_not_expected():
    ledger = new_ledger()
    [a] = room(ledger, "a")
    ledger.received(a, "a", ledger.sent("a", t(1)))
    [_late] = room(ledger, "late", at=2)
    ledger.received(a, "a", ledger.sent("a", t(3)))
    ledger.finalize(t(10))
    # late owes only the message sent after its welcome (and missed it); a got both of its own
    assert ledger.totals.expected == 3 and ledger.totals.lost == 1


def test_a_leaving_member_owes_only_messages_older_than_the_drain():
    ledger = new_ledger()
    a, b = room(ledger, "a", "b")
    old, recent, caught = ledger.sent("a", t(1)), ledger.sent("a", t(4.5)), ledger.sent("a", t(4.6))
    for seq in (old, recent, caught):
        ledger.received(a, "a", seq)
    ledger.received(b, "a", caught)
    ledger.ended(b, t(5))
    ledger.finalize(t(10))
    # to b: old is lost, recent was in flight when b left, caught arrived and counts; a got all 3
    assert (ledger.totals.expected, ledger.totals.lost) == (5, 1)
    assert old == 0 and recent == 1


def test_a_dropping_senders_last_messages_are_not_owed():
    ledger = new_ledger()
    a, _ = room(ledger, "a", "b")
    ledger.sent("a", t(4.8))  # may die in a's socket buffer when a drops
    ledger.ended(a, t(5), abrupt=True)
    ledger.finalize(t(10))
    assert (ledger.totals.expected, ledger.totals.lost) == (0, 0)
    assert ledger.totals.abrupt_disconnects == 1


def test_slow_consumers_are_not_recipients():
    ledger = new_ledger()
    room(ledger, "a")
    room(ledger, "slow", reader=False)
    ledger.sent("a", t(1))
    ledger.finalize(t(10))
    assert ledger.totals.expected == 1  # a's own copy; nothing owed to the slow consumer


def test_leave_seen_by_everyone_in_time():
    ledger = new_ledger()
    a, b, c = room(ledger, "a", "b", "c")
    ledger.ended(a, t(1), abrupt=True)
    ledger.saw_left(b, "a.1", t(1.1))
    assert ledger.leaves_pending_until() == t(3)
    ledger.saw_left(c, "a.1", t(1.2))
    assert ledger.check_leaves(t(5)) == 0
    assert ledger.leaves_pending_until() is None


def test_leave_missed_by_a_member_that_stayed():
    ledger = new_ledger()
    a, b, _c = room(ledger, "a", "b", "c")
    ledger.ended(a, t(1), abrupt=True)
    ledger.saw_left(b, "a.1", t(1.1))
    assert ledger.check_leaves(t(2)) == 0  # before the deadline: still pending
    assert ledger.check_leaves(t(3.5)) == 1
    assert ledger.totals.leave_missing == 1


def test_leave_check_ignores_members_that_left_before_the_deadline():
    ledger = new_ledger()
    a, b = room(ledger, "a", "b")
    ledger.ended(a, t(1), abrupt=True)
    ledger.ended(b, t(1.5))
    assert ledger.check_leaves(t(4)) == 0


def test_online_exact_in_a_settled_room():
    ledger = new_ledger()
    room(ledger, "a", "b")
    j = ledger.joining("j", "j.1", "r", True, t(5))
    assert ledger.online_bounds(j, t(5.1)) == (3, 3)
    assert not ledger.welcomed(j, 4, t(5.1))
    assert ledger.totals.online_mismatches == 1


def test_online_range_while_others_join_or_leave():
    ledger = new_ledger()
    a, _ = room(ledger, "a", "b")
    ledger.joining("k", "k.1", "r", True, t(5))  # k's handshake is under way
    ledger.ended(a, t(4.5), abrupt=True)  # a's leave may not be processed yet
    j = ledger.joining("j", "j.1", "r", True, t(5))
    assert ledger.online_bounds(j, t(5.1)) == (2, 4)


def test_online_after_the_leave_deadline_must_not_count_a_ghost():
    ledger = new_ledger()
    a, _ = room(ledger, "a", "b")
    ledger.ended(a, t(1), abrupt=True)
    j = ledger.joining("j", "j.1", "r", True, t(10))
    assert ledger.online_bounds(j, t(10.1)) == (2, 2)
    assert not ledger.welcomed(j, 3, t(10.1))  # the server still counts a


def test_announced_leaves_are_no_longer_counted():
    ledger = new_ledger()
    _slow, b = room(ledger, "slow", "b")
    ledger.saw_left(b, "slow.1", t(2))  # the server evicted it
    j = ledger.joining("j", "j.1", "r", True, t(3))
    assert ledger.online_bounds(j, t(3.1)) == (2, 2)


def test_history_sent_before_a_member_connected_is_replayed_not_delivered():
    ledger = new_ledger()
    [a] = room(ledger, "a")
    old = [ledger.sent("a", t(1 + k / 10)) for k in range(3)]
    for seq in old:
        assert ledger.received(a, "a", seq) == ECHO
    j = ledger.joining("j", "j.1", "r", True, t(2))  # the server replays a's last messages
    assert ledger.received(j, "a", old[0]) == REPLAYED  # even before the welcome
    ledger.welcomed(j, 2, t(2.1))
    assert [ledger.received(j, "a", seq) for seq in old] == [REPLAYED] * 3
    live = ledger.sent("a", t(3))
    assert ledger.received(a, "a", live) == ECHO
    assert ledger.received(j, "a", live) == FANOUT
    assert ledger.received(j, "a", old[2]) == REPLAYED  # neither a duplicate nor out of order
    ledger.finalize(t(10))
    totals = ledger.totals
    assert (totals.replayed, totals.duplicated, totals.out_of_order) == (5, 0, 0)
    assert (totals.expected, totals.lost) == (5, 0)  # a's four own copies and j's live one


def test_a_rejoined_users_own_old_messages_are_replayed_not_echoes():
    ledger = new_ledger()
    [a1] = room(ledger, "a")
    seq = ledger.sent("a", t(1))
    ledger.ended(a1, t(2))
    a2 = ledger.joining("a", "a.2", "r", True, t(3))
    assert ledger.received(a2, "a", seq) == REPLAYED


def test_a_probe_of_a_message_never_sent_is_leaked():
    ledger = new_ledger()
    _a, b = room(ledger, "a", "b")
    ledger.sent("a", t(1))
    assert ledger.received(b, "a", 5) == LEAKED  # a sent only message 0
    assert ledger.received(b, "a", -1) == LEAKED
    assert ledger.received(b, "a", 10**12) == LEAKED  # and no bitmap of 125 GB for it
    assert ledger.totals.leaked == 3 and len(b.seen.get("a", b"")) < 100


def test_members_share_one_copy_of_each_senders_uid_and_bitmaps_grow():
    ledger = new_ledger()
    a, b, c = room(ledger, "sender-0", "b", "c")
    for seq in range(200):  # past the first 64-message bitmap
        ledger.sent("sender-0", t(1 + seq / 100))
    for member, code in ((a, ECHO), (b, FANOUT), (c, FANOUT)):
        for seq in range(200):
            # a new string each time, as split out of each frame's text
            assert ledger.received(member, "".join(["sender-", "0"]), seq) == code
    (kb,), (kc,) = b.seen, c.seen
    assert kb is kc  # one object for both members
    assert len(b.seen[kb]) == 25 and highest_seen(b.seen[kb]) == 199  # as long as it must be
    assert ledger.received(b, "sender-0", 150) == DUPLICATE
    ledger.finalize(t(10))
    assert (ledger.totals.expected, ledger.totals.lost) == (600, 0)
