"""The Locust child process of `chatbench load`: started in its own process group, signals
forwarded to the whole group, never left running when the command ends.

Imports neither locust nor gevent (the parent process stays a plain Python process).

SIGINT or SIGTERM to `chatbench load` sends SIGTERM to the Locust child (the master, or the
only process): Locust's graceful shutdown, which chatbench's listeners use to stop the users
and the workers and to write what was collected as an incomplete run. SIGTERM for both: a
child started in the background may inherit an ignored SIGINT, and the master, not a signal
to each worker, must stop the workers (a worker signalled too races the master's quit
message, and Locust fails the double stop). A second signal kills the whole process group at
once; so does STOP_GRACE_S passing after the first, and REAP_S passing with a process of the
group still alive after the child exited: no load generator outlives the command.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from harness.errors import Interrupted, UnreachableError

STOP_GRACE_S = 5.0
"""Seconds the child's group gets to write its results after a forwarded signal."""
REAP_S = 2.0
"""Seconds the group's last processes get to exit after the child did."""
FORWARDED = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Outcome:
    """How the child ended: its exit code and the signal that stopped the run (0: none)."""

    code: int
    signum: int = 0
    stray: bool = False
    """Whether processes of the group outlived the child (they were killed)."""

    @property
    def exit_code(self) -> int:
        """The command's exit code for an interrupted run: 128 + the signal number."""
        return 128 + self.signum


@dataclass
class _Caught:
    signals: list[int] = field(default_factory=list)
    at: float = 0.0


def run(argv: list[str], timeout: float, extra_env: dict[str, str] | None = None) -> Outcome:
    """Run `argv` in a new process group (`extra_env` on top of ours); its output goes to
    our stderr."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    with subprocess.Popen(
        argv, stdout=sys.stderr, stderr=sys.stderr, env=env, start_new_session=True
    ) as child:
        with _forwarding(child) as caught:
            code = _wait(child, time.monotonic() + timeout, caught)
        signum = caught.signals[0] if caught.signals else 0
        return Outcome(code, signum, _reap_group(child.pid))


def _wait(child: subprocess.Popen[bytes], deadline: float, caught: _Caught) -> int:
    """The child's exit code; the group killed past `deadline` or the stop grace."""
    while True:
        try:
            return child.wait(0.2)
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if caught.signals and now > caught.at + STOP_GRACE_S:
            _say(f"Locust did not stop within {STOP_GRACE_S:g} s of the signal; killed")
            _kill_group(child.pid)
            return child.wait(10)
        if now > deadline:
            _kill_group(child.pid)
            child.wait(10)
            raise UnreachableError("the load run did not end in time (killed)")


@contextmanager
def _forwarding(child: subprocess.Popen[bytes]) -> Iterator[_Caught]:
    """While inside: SIGINT and SIGTERM go to the child's group and are noted."""
    caught = _Caught()

    def forward(signum: int, _frame: FrameType | None) -> None:
        if not caught.signals:
            caught.at = time.monotonic()
            _say(f"{signal.Signals(signum).name}: stopping the run (its results are incomplete)")
        caught.signals.append(signum)
        if len(caught.signals) == 1:
            child.send_signal(signal.SIGTERM)
        else:
            _say("a second signal: killing Locust without waiting for its results")
            _kill_group(child.pid)

    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    try:
        yield caught
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def interruptible() -> Iterator[None]:
    """While inside (outside `run`, which forwards them): SIGTERM and SIGINT raise
    Interrupted, so what was started (a served server) is stopped on the way out."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous = {s: signal.signal(s, stop) for s in FORWARDED}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _say(line: str) -> None:
    print(f"[chatbench] {line}", file=sys.stderr, flush=True)


def _signal_group(pgid: int, signum: int) -> bool:
    """Send `signum` to the group; False when it has no process left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def _kill_group(pgid: int) -> None:
    _signal_group(pgid, signal.SIGKILL)


def _reap_group(pgid: int) -> bool:
    """Kill what is left of the child's group REAP_S after it exited (a worker still
    stopping its users, or one its master did not stop)."""
    deadline = time.monotonic() + REAP_S
    while _alive_in_group(pgid):
        if time.monotonic() > deadline:
            _say(f"a Locust worker was still running {REAP_S:g} s after its master; killed")
            _kill_group(pgid)
            return True
        time.sleep(0.05)  # poll: the group's processes are not our children
    return False


def _alive_in_group(pgid: int) -> list[int]:
    """The group's processes that still run (an exited worker not yet reaped by init is a
    zombie: gone, whatever `kill(0)` says)."""
    import psutil

    alive = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(process.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return alive
