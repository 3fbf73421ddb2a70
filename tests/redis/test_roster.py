"""The roster of other processes' members (pure: no Redis): what a snapshot says was missed."""

from __future__ import annotations

from reference_server.cluster.envelope import JOINED, LEFT, Envelope
from reference_server.cluster.roster import Roster, snapshot_members

OWN = "me:"


def synced(**remote: str) -> Roster:
    roster = Roster()
    roster.reconcile({m.replace("_", ":"): n for m, n in remote.items()}, OWN, hold_leaves=False)
    return roster


def test_the_first_snapshot_announces_nothing_and_leaves_out_our_own_members() -> None:
    roster = Roster()
    result = roster.reconcile({"b:1": "bob", "me:1": "alice"}, OWN, hold_leaves=False)
    assert (result.joined, result.left, result.held) == ([], [], False)
    assert roster.remote == {"b:1": "bob"} and roster.synced


def test_a_later_snapshot_gives_the_joins_and_leaves_missed() -> None:
    roster = synced(b_1="bob", b_2="carol")
    result = roster.reconcile({"b:1": "bob", "c:1": "dave"}, OWN, hold_leaves=False)
    assert (result.joined, result.left) == (["dave"], ["carol"])
    assert not roster.left("b:2")  # carol's own `l`, late: told already
    assert roster.left("b:1")  # bob's: news


def test_leaves_are_held_after_redis_lost_its_data() -> None:
    roster = synced(b_1="bob")
    result = roster.reconcile({}, OWN, hold_leaves=True)
    assert (result.left, result.held) == ([], True) and roster.remote == {"b:1": "bob"}
    assert roster.reconcile({}, OWN, hold_leaves=False).left == ["bob"]


def test_a_restored_member_is_no_news_but_one_announced_gone_is() -> None:
    roster = synced(b_1="bob")
    assert not roster.joined("b:1", "bob")  # restored by its process after an outage
    roster.reconcile({}, OWN, hold_leaves=False)  # missed: announced as left
    assert roster.joined("b:1", "bob")  # its process came back after all: joined again


def test_an_unknown_members_leave_is_news() -> None:
    # a member present before this process subscribed (and never in a snapshot of ours)
    assert Roster().left("b:7")


def test_hears_reads_the_name_of_a_joined_event() -> None:
    roster = Roster()
    frame = '{"type":"system","message":"ann  lee joined"}'
    assert roster.hears(Envelope(JOINED, "b", "b:1", False, 1, frame))
    assert roster.remote == {"b:1": "ann  lee"}
    assert roster.hears(Envelope(LEFT, "b", "b:1", False, 0, "{}"))


def test_snapshot_members() -> None:
    assert snapshot_members("a:1\tann\nb:2\tbob smith") == {"a:1": "ann", "b:2": "bob smith"}
    assert snapshot_members("") == {}
