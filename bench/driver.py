"""The benchmark driver process: many chat members, open-loop probe sends, one ledger per step.

Run by bench/control.py as `python -m bench.driver`; it reads one JSON command per line on
stdin and answers one JSON line on stdout:

- `{"cmd": "connect", "urls": [...], "rooms": [...], "members": M, "id": "d0"}`: members join
  (member i of a room connects to urls[i % len(urls)]); answers once every member got its
  welcome and every later member's `joined` (no sleeps: the protocol is the barrier).
- `{"cmd": "stall", "url": U, "room": R}`: adds a member that never reads (slow consumer).
- `{"cmd": "step", "rate": D, "warmup": W, "duration": S, "drain": T, "payload": B}`: offers
  D deliveries/s for W + S seconds (each member sends on its own schedule with a random
  phase), measures only the S seconds after warm-up, waits up to T s for stragglers.
- `{"cmd": "quit"}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import os
import random
import socket
import sys
import time
from typing import Any

import orjson
import psutil
from hdrh.histogram import HdrHistogram

from bench.ledger import Ledger, new_histogram
from bench.procs import run_delay_seconds
from bench.wsclient import Member, chat_url, open_member, open_stalled_member
from harness.protocol import decode_probe, encode_client_message, encode_probe


class Driver:
    """The members of this process and the ledger of the step being measured."""

    def __init__(self, ident: str = "d0") -> None:
        self.ident = ident
        self.members: list[Member] = []
        self.room_of: list[int] = []
        self.room_size: list[int] = []
        self.stalled: list[socket.socket] = []
        self.ledgers: dict[str, Ledger] = {}
        self.stale = 0
        self.other = 0
        self.steps = 0

    # Receiving: the hot path, once per frame.
    def on_text(self, member: Member, data: bytes | bytearray | memoryview, now: int) -> None:
        event = orjson.loads(data)
        kind = event.get("type")
        if kind == "message":
            probe = decode_probe(event.get("text", ""))
            ledger = self.ledgers.get(probe.sender.partition(".")[0]) if probe else None
            if ledger is None or probe is None:
                self.stale += 1
            else:
                ledger.on_receive(member.index, probe, now)
        elif kind == "welcome":
            member.online = event["online"]
        elif kind == "system" and event["message"].endswith(" joined"):
            member.joined += 1
        else:
            self.other += 1

    async def connect(
        self, urls: list[str], rooms: list[str], members: int, timeout: float
    ) -> None:
        """Join `members` members to each room, room by room in parallel; wait for the joins."""
        self.ident = self.ident or "d0"

        async def join_room(r: int, room: str) -> list[Member]:
            joined = []
            for i in range(members):
                index = r * members + i
                url = chat_url(urls[index % len(urls)], room, f"{self.ident}-{index}")
                joined.append(await open_member(index, url, self.on_text, timeout))
            return joined

        async with asyncio.timeout(timeout):
            per_room = await asyncio.gather(*(join_room(r, room) for r, room in enumerate(rooms)))
        for r, room_members in enumerate(per_room):
            self.members.extend(room_members)
            self.room_of.extend([r] * len(room_members))
            self.room_size.extend([len(room_members)] * len(room_members))
        # Member k of a room of M sees M - online(k) later joins: wait for all of them.
        await self._until(
            lambda: all(m.online and m.joined >= members - m.online for m in self.members), timeout
        )

    async def stall(self, url: str, room: str, timeout: float) -> None:
        """Add a member of `room` that never reads; wait until its room saw it join."""
        before = sum(m.joined for m in self.members)
        mates = sum(1 for m in self.members if chat_url("", room, "") in m.url)
        self.stalled.append(
            await open_stalled_member(chat_url(url, room, "stalled"), timeout=timeout)
        )
        await self._until(lambda: sum(m.joined for m in self.members) >= before + mates, timeout)

    async def _until(self, condition: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("members did not settle")
            await asyncio.sleep(0.01)  # polled barrier on protocol events, bounded

    async def step(
        self,
        rate: float,
        warmup: float,
        duration: float,
        drain: float,
        payload: int,
        pids: list[int],
    ) -> dict[str, Any]:
        """Offer `rate` deliveries/s; measure the `duration` after `warmup`."""
        self.steps += 1
        warm, meas = Ledger(f"w{self.steps}"), Ledger(f"m{self.steps}")
        self.ledgers = {warm.tag: warm, meas.tag: meas}
        n = len(self.members)
        interval = int(1e9 * sum(self.room_size) / rate)  # ns between two sends of one member
        start = time.time_ns() + 20_000_000
        t_meas = start + int(warmup * 1e9)
        lag = new_histogram()
        await self._offer(warm, start, t_meas, interval, payload, lag)
        cpu0, wall0, server0 = time.process_time(), time.monotonic(), _cpu_seconds(pids)
        machine0, waits0 = psutil.cpu_times(), _waits(pids)
        await self._offer(meas, t_meas, t_meas + int(duration * 1e9), interval, payload, lag)
        wall = max(1e-9, time.monotonic() - wall0)
        cpu = (time.process_time() - cpu0) / wall
        server_cpu = (_cpu_seconds(pids) - server0) / wall
        machine = _busy(machine0, psutil.cpu_times())
        waits = _waits(pids)
        server_wait, driver_wait = (_share(waits0[i], waits[i], wall) for i in (0, 1))
        drained = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await self._until(lambda: meas.delivered >= meas.expected, drain)
        return {
            **meas.summary(),
            "rate": rate,
            "duration": duration,
            "members": n,
            "driver_cpu": cpu,
            "server_cpu": server_cpu,
            "machine_busy": machine,
            "server_wait": server_wait,
            "driver_wait": driver_wait,
            "lag_p99_us": lag.get_value_at_percentile(99),
            "drain_s": time.monotonic() - drained,
            "closed": sum(1 for m in self.members if m.closed.done()),
            "stale": self.stale,
        }

    async def _offer(
        self, ledger: Ledger, t0: int, t_end: int, interval: int, payload: int, lag: HdrHistogram
    ) -> None:
        """Open-loop sends from t0 to t_end: each member every `interval` ns, random phase.

        A late send goes out at once and keeps its schedule (lateness is recorded in `lag`):
        the driver never waits for the server, so a slow server cannot slow the offered load.
        """
        heap = [(t0 + random.randrange(interval), i) for i in range(len(self.members))]
        heapq.heapify(heap)
        members, sizes, seq = self.members, self.room_size, 0
        while True:
            due, i = heap[0]
            now = time.time_ns()
            if due > now:
                await asyncio.sleep((due - now) / 1e9)
                continue
            if due >= t_end:
                return
            heapq.heapreplace(heap, (due + interval, i))
            lag.record_value(max(1, (now - due) // 1000))
            seq += 1
            text = encode_probe(ledger.sender(i), seq, time.time_ns(), payload)
            members[i].send_text(encode_client_message(text))
            ledger.on_send(sizes[i])

    def close(self) -> None:
        for m in self.members:
            m.close()
        for s in self.stalled:
            s.close()


def _cpu_seconds(pids: list[int]) -> float:
    """CPU seconds used so far by the processes `pids` (the servers under test)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    return total


def _waits(pids: list[int]) -> tuple[float | None, float | None]:
    """Run-queue seconds so far of the servers `pids` and of this driver."""
    return (run_delay_seconds(pids) if pids else None), run_delay_seconds([os.getpid()])


def _share(before: float | None, after: float | None, wall: float) -> float | None:
    """Seconds waited for a CPU per second of `wall` (None when not measured)."""
    return None if before is None or after is None else (after - before) / wall


def _busy(before: Any, after: Any) -> float:
    """Share of all cores busy between two psutil.cpu_times() samples (whoever used them)."""
    total = sum(after) - sum(before)
    idle = (after.idle + getattr(after, "iowait", 0)) - (before.idle + getattr(before, "iowait", 0))
    return 1 - idle / total if total > 0 else 0.0


async def serve_commands() -> None:
    """The command loop on stdin/stdout (see the module docstring)."""
    loop = asyncio.get_running_loop()
    driver = Driver()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        cmd = json.loads(line)
        try:
            reply = await dispatch(driver, cmd)
        except Exception as exc:  # report, never hang the controller
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
        if cmd.get("cmd") == "quit":
            break
    driver.close()


async def dispatch(driver: Driver, cmd: dict[str, Any]) -> dict[str, Any]:
    """Run one command."""
    name = cmd.get("cmd")
    timeout = float(cmd.get("timeout", 30))
    if name == "connect":
        driver.ident = cmd.get("id", "d0")
        t0 = time.monotonic()
        await driver.connect(cmd["urls"], cmd["rooms"], int(cmd["members"]), timeout)
        return {"ok": True, "connections": len(driver.members), "connect_s": time.monotonic() - t0}
    if name == "stall":
        await driver.stall(cmd["url"], cmd["room"], timeout)
        return {"ok": True}
    if name == "step":
        args = (cmd["rate"], cmd.get("warmup", 1.0), cmd["duration"], cmd.get("drain", 2.0))
        extra = (int(cmd.get("payload", 0)), cmd.get("pids", []))
        return {"ok": True, **(await driver.step(*args, *extra))}
    if name == "quit":
        return {"ok": True}
    return {"ok": False, "error": f"unknown command {name!r}"}


def main() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve_commands())


if __name__ == "__main__":
    main()
