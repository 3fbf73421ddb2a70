"""harness.load.users' own bookkeeping (the users' behaviour is tested through real runs in
test_load_*.py). In a child process: importing Locust monkey-patches this one."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    from collections import deque

    from locust import User, task
    from locust.env import Environment
    from locust.user.task import DefaultTaskSet

    from harness.load import users

    class Plain(User):
        @task
        def nothing(self):
            pass

    def plain_user():
        user = Plain(Environment(user_classes=[Plain]))
        user._taskset_instance = taskset = DefaultTaskSet(user)
        return user, taskset

    user, taskset = plain_user()
    # the attribute this relies on: if a Locust release renames it, this fails, not silently
    assert isinstance(taskset._task_queue, deque) and not taskset._task_queue
    assert users._park_task_queue(user) and taskset._task_queue == ()
    users._unpark_task_queue(user)
    assert isinstance(taskset._task_queue, deque) and not taskset._task_queue

    user, taskset = plain_user()  # a queue with a task in it is never parked
    taskset.schedule_task(Plain.nothing)
    assert not users._park_task_queue(user) and len(taskset._task_queue) == 1
    print("ok")
    """
)


def test_locusts_task_queue_is_let_go_while_the_session_runs_and_comes_back() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
