"""Controlling driver processes: connect them, run a step on all at once, merge their results."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Any

from bench.ledger import decode_histogram, new_histogram
from bench.procs import PY, ROOT


class DriverProc:
    """One `python -m bench.driver` child speaking JSON lines."""

    def __init__(self, ident: str) -> None:
        self.ident = ident
        self.popen = subprocess.Popen(
            [PY, "-m", "bench.driver"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._lines.put(line)
        self._lines.put("")

    def send(self, cmd: dict[str, Any]) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(json.dumps(cmd) + "\n")
        self.popen.stdin.flush()

    def receive(self, timeout: float) -> dict[str, Any]:
        """The reply to the last command; raises on timeout or if the driver died."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"driver {self.ident} silent for {timeout:.0f} s") from None
        if not line:
            raise RuntimeError(f"driver {self.ident} exited ({self.popen.poll()})")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(f"driver {self.ident}: {reply.get('error')}")
        return reply

    def stop(self) -> None:
        """Ask the driver to quit (kill it after 5 s) and close its pipes."""
        if self.popen.poll() is None:
            try:
                self.send({"cmd": "quit"})
                self.popen.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.popen.kill()
                self.popen.wait(5)
        self._reader.join(5)
        for pipe in (self.popen.stdin, self.popen.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


@dataclass
class Step:
    """One measured load level, merged over every driver."""

    offered: float
    duration: float
    sent: int = 0
    expected: int = 0
    delivered: int = 0
    disordered: int = 0
    closed: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    driver_cpu: float = 0.0
    drivers_cpu_total: float = 0.0
    lag_p99_ms: float = 0.0
    server_cpu: float = 0.0
    machine_busy: float = 0.0
    server_wait: float | None = None
    """Seconds the servers' threads waited for a CPU per second (None: not measured)."""
    driver_wait: float | None = None
    """The same for the driver that waited most."""
    ok: bool = False
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def achieved(self) -> float:
        """Deliveries per second actually made during the measured seconds."""
        return self.delivered / self.duration if self.duration else 0.0

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.delivered)

    @property
    def p99_with_losses_ms(self) -> float:
        """p99 counting lost deliveries as infinitely late (inf when over 1% is lost)."""
        return float("inf") if self.lost > 0.01 * max(1, self.expected) else self.p99_ms

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "extra"}
        return {**d, "achieved": self.achieved, "lost": self.lost}


def merge(replies: list[dict[str, Any]], offered: float, duration: float) -> Step:
    """One Step from the drivers' replies: counts add, histograms merge, CPU is the max."""
    hist = new_histogram()
    step = Step(offered=offered, duration=duration)
    for r in replies:
        hist.add(decode_histogram(r["hist"]))
        for k in ("sent", "expected", "delivered", "disordered", "closed"):
            setattr(step, k, getattr(step, k) + int(r[k]))
        step.driver_cpu = max(step.driver_cpu, float(r["driver_cpu"]))
        step.drivers_cpu_total += float(r["driver_cpu"])
        step.lag_p99_ms = max(step.lag_p99_ms, r["lag_p99_us"] / 1000)
        step.server_cpu = max(step.server_cpu, float(r.get("server_cpu", 0.0)))
        step.machine_busy = max(step.machine_busy, float(r.get("machine_busy", 0.0)))
        step.server_wait = _max(step.server_wait, r.get("server_wait"))
        step.driver_wait = _max(step.driver_wait, r.get("driver_wait"))
    step.p50_ms = hist.get_value_at_percentile(50) / 1000
    step.p99_ms = hist.get_value_at_percentile(99) / 1000
    step.max_ms = hist.get_max_value() / 1000
    return step


def _max(a: float | None, b: float | None) -> float | None:
    """The larger of two optional measurements."""
    return a if b is None else b if a is None else max(a, float(b))


class Drivers:
    """A set of driver processes sharing out rooms, stepped together."""

    def __init__(self, count: int = 1) -> None:
        self.procs = [DriverProc(f"d{i}") for i in range(count)]

    def _all(self, cmds: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
        for proc, cmd in zip(self.procs, cmds, strict=True):
            proc.send(cmd)
        return [proc.receive(timeout) for proc in self.procs]

    def connect(self, urls: list[str], rooms: list[str], members: int, timeout: float = 60) -> None:
        """Share `rooms` out among the drivers (round robin) and join `members` to each."""
        n = len(self.procs)
        cmds = [
            {
                "cmd": "connect",
                "id": p.ident,
                "urls": urls,
                "rooms": rooms[i::n],
                "members": members,
            }
            for i, p in enumerate(self.procs)
        ]
        self._all(cmds, timeout)

    def stall(self, url: str, room: str, timeout: float = 30) -> None:
        """Add a never-reading member to `room` (held by the first driver)."""
        self.procs[0].send({"cmd": "stall", "url": url, "room": room, "timeout": timeout})
        self.procs[0].receive(timeout + 5)

    def step(
        self,
        rate: float,
        duration: float,
        warmup: float,
        payload: int,
        drain: float = 2.0,
        pids: list[int] | None = None,
    ) -> Step:
        """Offer `rate` deliveries/s in total (split evenly) and merge the measurements."""
        n = len(self.procs)
        cmd = {"cmd": "step", "rate": rate / n, "duration": duration, "warmup": warmup}
        cmd |= {"drain": drain, "payload": payload}
        # The first driver also samples the servers' CPU over exactly the measured seconds.
        cmds = [cmd | {"pids": pids or []}] + [cmd] * (n - 1)
        replies = self._all(cmds, warmup + duration + drain + 30)
        return merge(replies, rate, duration)

    def stop(self) -> None:
        for p in self.procs:
            p.stop()

    def __enter__(self) -> Drivers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
