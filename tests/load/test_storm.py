"""The reconnect storm's backoff and accounting (harness.load.storm, the ledger's storm
figures), on made-up times: no sockets."""

from __future__ import annotations

import pytest

from harness.load.ledger import NS, Ledger, Member
from harness.load.storm import (
    RESTART,
    StormBook,
    back_time,
    backoff_s,
    joins_owed,
    summarize,
)


def t(seconds: float) -> int:
    return int(seconds * NS)


# -- backoff ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(0, 0.5), (1, 1.0), (2, 2.0), (4, 8.0), (5, 10.0), (60, 10.0)]
)
def test_backoff_doubles_up_to_the_cap_and_is_a_full_jitter_draw(attempt, ceiling):
    assert backoff_s(attempt, 0.5, 10.0, 0.0) == 0.0
    assert backoff_s(attempt, 0.5, 10.0, 0.5) == pytest.approx(ceiling / 2)
    assert backoff_s(attempt, 0.5, 10.0, 0.999999) == pytest.approx(ceiling, rel=1e-5)


def test_backoff_of_a_huge_attempt_does_not_overflow():
    assert backoff_s(10_000, 1.0, 30.0, 0.5) == 15.0


# -- time until back ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offsets", "dropped", "share", "expected"),
    [
        ([100, 200, 300], 3, 1.0, 0.3),
        ([100, 200, 300], 4, 1.0, None),  # one never came back
        (list(range(1, 101)), 100, 0.99, 0.099),  # the 99th of 100
        (list(range(1, 100)), 100, 0.99, 0.099),  # the last one missing does not matter to p99
        (list(range(1, 99)), 100, 0.99, None),
        ([], 0, 1.0, None),  # nobody was dropped: nothing came back
        ([500], 1, 0.99, 0.5),
    ],
)
def test_back_time(offsets, dropped, share, expected):
    assert back_time(offsets, dropped, share) == expected


def test_a_book_counts_each_dropped_users_first_return_only():
    book = StormBook(t(10))
    for uid in ("a", "b", "c"):
        book.drop(uid)
    book.back("a", t(10.5))
    book.back("a", t(12))  # again (its new connection ended and it returned): not counted
    book.back("z", t(11))  # never dropped (it was between connections): not owed
    book.attempt_failed("503")
    book.attempt_failed("503")
    book.attempt_failed("refused")
    assert not book.all_back() and book.end_ns(t(20)) == t(20)
    book.back("b", t(11))
    book.back("c", t(13))
    assert book.all_back() and book.end_ns(t(20)) == t(13)
    report = book.report({"lost": 2})
    assert report["back_ms"] == [500, 1000, 3000] and report["dropped"] == 3
    assert report["failed"] == {"503": 2, "refused": 1} and report["lost"] == 2


def test_summarize_merges_processes():
    one = StormBook(t(102), RESTART)
    two = StormBook(t(102.2), RESTART)
    for i in range(50):
        one.drop(f"a{i}")
        one.back(f"a{i}", t(102 + i / 100))
        two.drop(f"b{i}")
        two.attempt_failed("refused")
    for i in range(49):
        two.back(f"b{i}", t(103 + i / 100))
    s = summarize(
        [
            one.report({"lost": 1, "joined_owed": 4, "joined_seen": 4}),
            two.report({"lost": 2, "joined_owed": 5, "joined_seen": 3}),
        ],
        start_s=100,
    )
    assert s is not None
    assert (s["at_s"], s["cause"], s["dropped"], s["back"]) == (2.0, RESTART, 100, 99)
    assert s["back_99_s"] == pytest.approx(0.8 + 0.48, abs=0.011)  # the 99th: b's 49th
    assert s["back_100_s"] is None  # b49 never came back
    assert s["failed_handshakes"] == {"refused": 50}
    assert (s["lost"], s["joined_owed"], s["joined_seen"]) == (3, 9, 7)
    assert summarize([], 100) is None


# -- joined owed and seen ----------------------------------------------------------------------


def member(name: str, started: float, since: float | None, until: float | None, **kw) -> Member:
    m = Member(name.split(".")[0], name, "r", kw.get("reader", True), t(started))
    m.since = None if since is None else t(since)
    m.until = None if until is None else t(until)
    m.heard = set(kw.get("heard", ()))
    return m


def test_joins_are_owed_to_members_present_before_the_join_that_stay():
    first = member("a.2", 10.0, 10.1, None, heard={"b.2", "c.2"})
    second = member("b.2", 10.2, 10.3, None, heard={"c.2"})
    third = member("c.2", 10.4, 10.5, None)
    late_leaver = member("d.2", 10.0, 10.05, 10.6)  # gone before c's deadline: owed nothing
    slow = member("e.2", 10.0, 10.05, None, reader=False)  # reads nothing: owed nothing
    old = member("a.1", 1.0, 1.1, 9.9)  # dropped by the storm: before the window
    owed, seen = joins_owed([first, second, third, late_leaver, slow, old], (t(10), t(11)), t(2))
    # `b.2 joined` is owed to a.2 (d.2 ended before b.2's welcome + 2 s); `c.2 joined` to
    # a.2 and b.2
    assert (owed, seen) == (3, 3)


def test_a_join_nobody_heard_is_owed_not_seen():
    first = member("a.2", 10.0, 10.1, None)
    second = member("b.2", 10.2, 10.3, None, heard={"a.2"})  # hearing an earlier join: not owed
    assert joins_owed([first, second], (t(10), t(11)), t(2)) == (1, 0)


def test_joins_outside_the_window_are_not_the_storms():
    first = member("a.1", 1.0, 1.1, None, heard={"b.1"})
    second = member("b.1", 2.0, 2.1, None)
    assert joins_owed([first, second], (t(10), t(11)), t(2)) == (0, 0)


# -- the ledger's storm figures ----------------------------------------------------------------


def test_lost_in_the_storm_window_and_the_drops_judged_since_the_storm():
    ledger = Ledger(drain_ns=t(1), leave_deadline_ns=t(2))
    a = ledger.joining("a", "a.1", "r", True, t(0))
    b = ledger.joining("b", "b.1", "r", True, t(0))
    c = ledger.joining("c", "c.1", "r", True, t(0))
    for m in (a, b, c):
        ledger.welcomed(m, None, t(0.1))
    ledger.sent("a", t(1))  # before the storm: lost (to a, b and c), but not the storm's
    ledger.storm_from = t(5)
    ledger.ended(c, t(4), abrupt=True)  # a drop before the storm: not the storm's
    ledger.saw_left(b, "c.1", t(4.1))
    ledger.ended(a, t(5), abrupt=True)  # during the storm: owed to b, who stays and hears it
    ledger.saw_left(b, "a.1", t(5.1))
    ledger.check_leaves(t(9))
    assert ledger.leaves_judged == [(t(5), 1, 1)]
    ledger.window = (t(5.5), t(8))
    ledger.sent("b", t(6))  # owed to b alone (its own copy; a and c have gone), and lost
    ledger.finalize(t(10))
    assert ledger.totals.lost == 4 and ledger.lost_in_window == 1


def test_a_drop_in_the_storm_nobody_heard_is_owed_to_who_stayed():
    ledger = Ledger(drain_ns=t(1), leave_deadline_ns=t(2))
    members = [ledger.joining(u, f"{u}.1", "r", True, t(0)) for u in "abc"]
    for m in members:
        ledger.welcomed(m, None, t(0.1))
    ledger.storm_from = t(1)
    ledger.ended(members[0], t(5), abrupt=True)
    ledger.saw_left(members[1], "a.1", t(5.5))
    assert ledger.check_leaves(t(8)) == 1  # c never heard it
    assert ledger.leaves_judged == [(t(5), 2, 1)]
