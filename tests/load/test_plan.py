"""Room plans, kinds and schedules."""

import pytest

from harness.errors import UsageError
from harness.load.plan import Fractions, RoomPlan, Schedule, process_plan, room_sizes


def test_even_sizes_add_up():
    assert room_sizes(200, 10) == [20] * 10
    assert sorted(room_sizes(7, 3)) == [2, 2, 3]


def test_weighted_and_zipf_sizes():
    assert room_sizes(12, 3, "1,1,10") == [1, 1, 10]
    zipf = room_sizes(100, 4, "zipf")
    assert sum(zipf) == 100 and zipf == sorted(zipf, reverse=True)


def test_more_rooms_than_users_gives_rooms_of_one():
    assert room_sizes(3, 10) == [1, 1, 1]


def test_process_plan_splits_rooms_and_users():
    assert process_plan(200, 10, "even", 2) == [20] * 5
    assert process_plan(5, 1, "even", 2) == [3]  # at least one room per process


@pytest.mark.parametrize("spec", ["big", "1,-1", ""])
def test_bad_room_size_spec(spec):
    with pytest.raises(UsageError):
        room_sizes(10, 2, spec)


def test_slots_interleave_rooms_and_fill_sizes():
    plan = RoomPlan([2, 4])
    rooms = [plan.room(slot) for slot in range(6)]
    assert sorted(rooms) == [0, 0, 1, 1, 1, 1]
    assert rooms[:2] != [0, 0]  # rooms fill side by side, not one after another


def test_kinds_have_exact_counts():
    plan = RoomPlan([10, 10], Fractions(churn=0.25, slow=0.1, lurk=0.2))
    kinds = [plan.kind(slot) for slot in range(20)]
    assert kinds.count("churner") == 5
    assert kinds.count("slow") == 2
    assert kinds.count("lurker") == 4
    assert kinds.count("chatter") == 9


def test_fractions_are_checked():
    with pytest.raises(UsageError):
        Fractions(churn=0.7, slow=0.5)
    with pytest.raises(UsageError):
        Fractions(churn=-0.1)


def test_open_loop_schedule_does_not_slide():
    sched = Schedule(start_ns=1_000, rate=10, phase=0)
    assert [sched.due() for _ in range(3)] == [1_000, 100_001_000, 200_001_000]
    sched.restart(now_ns=5_000_000_000)  # closed loop slides with the sender
    assert sched.due() == 5_100_000_000


def test_skipping_the_messages_due_while_disconnected():
    sched = Schedule(0, 10.0, 0.0)  # due at 0, 0.1 s, 0.2 s, ...
    assert sched.due() == 0
    assert sched.skip_to(50_000_000) == 0  # the next is due at 0.1 s
    assert sched.skip_to(350_000_000) == 3  # 0.1, 0.2 and 0.3 s passed unsent
    assert sched.due() == 400_000_000
    assert sched.skip_to(500_000_000) == 0  # 0.5 s is not before 0.5 s
