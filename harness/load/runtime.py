"""Locust glue of a process that runs users: the run context and the run's timeline.

Importing this module (users.py does) registers chatbench's listeners on `locust.events`:

- `init_command_line_parser`: the `--cb-*` options (`options.py`).
- `init`: the web UI's chatbench tab (`webui.py`) and the custom messages (final reports,
  clock pings: `collect.py`, `clock.py`).
- `test_start` on a process that runs users (local runner or worker): a ticker greenlet
  samples CPU and connections once a second, runs due leave checks, and once the send phase
  and the drain are over, settles the ledger and reports. Fan-out latency stays out of
  Locust's request statistics (a per-second p99 is not a response time, nor a delivery count
  a size): the web UI's chatbench tab, the progress lines and results.json show it.
- `test_stopping`, `test_stop`, `quitting` (a stop, a signal, the end): a run still going
  is settled there, incomplete when it is cut short (`collect.stop_early` on a master).
- `report_to_master` / `worker_report`: workers send the buckets filled since their last
  report; the master merges them (`collect.py`). A local run merges into itself.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import random
import resource
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.event
import psutil
from locust import events
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from harness.errors import UsageError
from harness.gcfreeze import Collector
from harness.load import clock, collect, console, exporter, options, profiles, storming, webui
from harness.load.aggregate import SATURATION_CPU
from harness.load.collect import COLLECTED
from harness.load.frames import MAX_MESSAGE_BYTES, MIN_MESSAGE_BYTES
from harness.load.ledger import NS, Ledger
from harness.load.options import option
from harness.load.plan import Fractions, RoomPlan, process_plan
from harness.load.recorder import Recorder
from harness.load.storm import StormPlan
from harness.profile import ChatProtocol

log = logging.getLogger("chatbench")
MEMBER_BLOCK = 10**9
"""`{member}` numbers of a process start at a random multiple of this (unique across
processes and runs that share a server, below 2**53 for servers that parse them as doubles)."""


@dataclass
class Context:
    """Everything one Locust process knows about its part of the run."""

    env: Environment
    plan: RoomPlan
    urls: list[str]
    prefix: str
    recorder: Recorder
    protocol: ChatProtocol
    rate: float
    payload_bytes: int
    open_loop: bool
    churn_interval: float
    connect_timeout: float
    max_message_bytes: int = MAX_MESSAGE_BYTES
    headers: list[tuple[str, str]] = field(default_factory=list)
    """--cb-header: handshake headers on top of the profile's."""
    members: itertools.count[int] = field(
        default_factory=lambda: itertools.count(random.randrange(1, 9_000_000) * MEMBER_BLOCK)
    )
    start_ns: int = 0
    send_end_ns: int | None = None
    drain_ns: int = 0
    finished: gevent.event.Event = field(default_factory=gevent.event.Event)
    next_slot: int = 0
    connections: int = 0
    ended: int = 0
    """Connections that were open and ended, whoever ended them."""
    missing: int = 0  # users without the connection the plan gives them
    missing_peak: int = 0  # the most of them since the last tick
    storm: StormPlan = field(default_factory=lambda: StormPlan())
    users: list[Any] = field(default_factory=list)
    """Every user of the process (the storm ends their connections)."""
    sources: list[str] = field(default_factory=list)
    """--cb-source-addresses: connections are bound to these in turn."""
    _source_turn: int = 0

    def connection_ended(self) -> None:
        """An open connection ended, whoever ended it (the gauge, and the count harness.gcfreeze
        reads for churn)."""
        self.connections -= 1
        self.ended += 1

    def next_source(self) -> str | None:
        """The local address the next connection binds to (None: the system's choice)."""
        if not self.sources:
            return None
        self._source_turn += 1
        return self.sources[self._source_turn % len(self.sources)]

    def room_name(self, index: int) -> str:
        """The id of this process's room `index` (unique to the process and run)."""
        return f"cb{self.prefix}r{index}"

    def url_for(self, slot: int, room: str, username: str, member: int) -> str:
        """The WebSocket URL slot `slot` joins `room` at as connection `member` (the
        profile's URL template; slots spread over the URLs)."""
        base = self.urls[slot % len(self.urls)].rstrip("/")
        return base + self.protocol.path(room, username, member)

    def handshake_headers(self, room: str, username: str, member: int) -> list[tuple[str, str]]:
        """The profile's handshake headers, then --cb-header's."""
        return [*self.protocol.headers(room, username, member), *self.headers]

    def sending(self, now: int) -> bool:
        """Whether the send phase is still on."""
        return not self.finished.is_set() and (self.send_end_ns is None or now < self.send_end_ns)


_context: Context | None = None
PAUSE_WARN_S = 0.02
"""A full collection of the generator's at least this long is reported (a latency of its own)."""


def context(env: Environment) -> Context:
    """This process's run context (built on first use)."""
    global _context
    if _context is None:
        _context = _build_context(env)
    return _context


def _build_context(env: Environment) -> Context:
    processes = 1
    if isinstance(env.runner, WorkerRunner):
        processes = max(1, int(option(env, "expect_workers", 1) or 1))
    sizes_text = option(env, "cb_rooms_plan", "")
    if sizes_text:
        sizes = [int(s) for s in sizes_text.split(",")]
    else:
        users = int(option(env, "num_users", 0) or 0) or 20
        rooms = int(option(env, "cb_rooms", 0)) or max(1, round(users / 20))
        spec = option(env, "cb_room_size", "even")
        sizes = process_plan(users, rooms, spec, processes)
    fractions = Fractions(
        option(env, "cb_churn", 0.0), option(env, "cb_slow", 0.0), option(env, "cb_lurkers", 0.0)
    )
    protocol = protocol_for(env)
    if not protocol.rooms:  # one room for everybody: every user of the process is in it
        sizes = [sum(sizes)]
    prefix = secrets.token_hex(3)
    plan = RoomPlan(sizes, fractions)
    room_sizes = {f"cb{prefix}r{k}": size for k, size in enumerate(sizes)}
    drain = float(option(env, "cb_drain", 2.0))
    deadline = float(option(env, "cb_leave_deadline", 5.0))
    ledger = Ledger(
        int(drain * NS),
        int(deadline * NS),
        echo=protocol.behaviour.echo,
        leaves=protocol.behaviour.announces_leave,
        one_room=not protocol.rooms,
        prefix=prefix,
    )
    recorder = Recorder(ledger, room_sizes, check_online=profiles.welcome_counts(protocol))
    urls = (option(env, "cb_urls", "") or env.host or "").split()
    if not urls:
        raise RuntimeError("chatbench: no server URL (--cb-urls or --host)")
    max_message = int(option(env, "cb_max_message_bytes", MAX_MESSAGE_BYTES))
    if max_message < MIN_MESSAGE_BYTES:
        raise RuntimeError(f"chatbench: --cb-max-message-bytes must be >= {MIN_MESSAGE_BYTES}")
    plan_storm = storming.plan(env)
    recorder.track_joins = bool(plan_storm.at_s) and protocol.behaviour.announces_join
    return Context(
        env=env,
        plan=plan,
        urls=urls,
        prefix=prefix,
        recorder=recorder,
        protocol=protocol,
        headers=_headers(env),
        rate=float(option(env, "cb_rate", 1.0)),
        payload_bytes=int(option(env, "cb_payload_bytes", 0)),
        open_loop=option(env, "cb_timing", "open") == "open",
        churn_interval=float(option(env, "cb_churn_interval", 3.0)),
        connect_timeout=float(option(env, "cb_connect_timeout", 10.0)),
        max_message_bytes=max_message,
        drain_ns=int(drain * NS),
        storm=plan_storm,
        sources=storming.source_list(env),
    )


_protocol: tuple[tuple[str, str], ChatProtocol] | None = None


def protocol_for(env: Environment) -> ChatProtocol:
    """The run's protocol profile (--cb-profile, --cb-path-template), loaded once."""
    global _protocol
    key = (str(option(env, "cb_profile", "") or ""), str(option(env, "cb_path_template", "")))
    if _protocol is None or _protocol[0] != key:
        try:
            protocol = profiles.load_protocol(key[0], key[1] or None, "--cb-path-template")
        except UsageError as exc:
            raise RuntimeError(f"chatbench: {exc}") from None
        _protocol = key, protocol
    return _protocol[1]


def _headers(env: Environment) -> list[tuple[str, str]]:
    try:
        return profiles.parse_headers(option(env, "cb_header", None) or [], "--cb-header")
    except UsageError as exc:
        raise RuntimeError(f"chatbench: {exc}") from None


# -- processes that run users ---------------------------------------------------------------


def _on_test_start(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        workers = int(option(environment, "expect_workers", 1) or 1)
        COLLECTED.reset(time.time_ns() // NS, workers)
        gevent.spawn(collect.progress, environment)
        gevent.spawn(collect.watchdog, environment)
        gevent.spawn(storming.ask_restart, storming.plan(environment), time.time_ns())
        return
    global _context
    if _context is not None and _context.finished.is_set():  # a new run from the web UI
        _context = None
    ctx = context(environment)
    _raise_nofile()
    _quiet_gc()
    ctx.start_ns = time.time_ns()
    duration = float(option(environment, "cb_duration", 0))
    ctx.send_end_ns = ctx.start_ns + int(duration * NS) if duration > 0 else None
    ctx.recorder.on_rtt = lambda us: _rtt_event(environment, us)
    gevent.spawn(_ticker, ctx)
    if ctx.storm.at_s > 0:
        gevent.spawn(storming.run_storm, ctx)
    if isinstance(runner, LocalRunner):
        gevent.spawn(storming.ask_restart, ctx.storm, ctx.start_ns)
    if isinstance(runner, LocalRunner):
        COLLECTED.reset(ctx.start_ns // NS, 1)
        gevent.spawn(collect.progress, environment)
    if isinstance(runner, WorkerRunner):
        gevent.spawn(clock.sync, runner)


def _request(env: Environment, kind: str, name: str, ms: float, length: int, exc: Any) -> None:
    """One Locust request event (Locust's stats and web UI show these)."""
    env.events.request.fire(  # type: ignore[no-untyped-call]
        request_type=kind,
        name=name,
        response_time=ms,
        response_length=length,
        exception=exc,
        context={},
    )


def _raise_nofile() -> None:
    """Soft RLIMIT_NOFILE to the hard limit: every user holds a socket, and a default soft
    limit of 1,024 would fail the 1,000th connection of a process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):  # macOS caps it below its hard limit
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (hard, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
            )


def _quiet_gc() -> None:
    """Keep the cyclic GC from pausing the receive path for long (a pause is latency)."""
    gc.collect()
    gc.freeze()  # what exists now (Locust, gevent, modules) is never scanned again
    gc.set_threshold(50_000, 20, 100)


def _tick_collector(collector: Collector) -> None:
    """Freeze what is alive (harness.gcfreeze); say so when a full collection paused the
    process: the frames that came meanwhile are timestamped late, and it is not the server's."""
    before = collector.collections
    collector.tick()
    if collector.collections > before and collector.last_pause >= PAUSE_WARN_S:
        log.warning(
            "chatbench: generator paused %.0f ms for a full garbage collection (%d connections "
            "ended so far); fan-out latencies measured meanwhile include it",
            1000 * collector.last_pause,
            collector.departed(),
        )


def _rtt_event(env: Environment, us: int) -> None:
    _request(env, "WS", "message rtt", us / 1000, 0, None)


def _ticker(ctx: Context) -> None:
    """Just before each second ends: gauges, leave checks, a Locust event; then the end."""
    proc = psutil.Process()
    proc.cpu_percent(None)
    warned = False
    collector = Collector(lambda: ctx.connections, lambda: ctx.ended)
    while not ctx.finished.is_set():
        target = _second_end(time.time_ns())
        gevent.sleep(max(0.0, (target - time.time_ns()) / NS))
        now, sec = time.time_ns(), target // NS  # a late wake-up still samples its second
        cpu = proc.cpu_percent(None)
        saturated = cpu > SATURATION_CPU
        if saturated and not warned:
            warned = True
            log.warning("chatbench: generator CPU at %.0f%%: latencies measure the generator", cpu)
        ctx.recorder.tick(sec, now, ctx.connections, cpu, saturated, ctx.missing_peak)
        ctx.missing_peak = ctx.missing
        _tick_collector(collector)
        if isinstance(ctx.env.runner, LocalRunner):
            COLLECTED.aggregate.merge(ctx.recorder.take())
        if _run_over(ctx, now):
            _finish(ctx, now, ended=True)


def _second_end(now: int) -> int:
    """20 ms before the current second ends, or the next one's when that is under half a
    second away (a CPU share over a sliver of a second is noise)."""
    target = (now // NS + 1) * NS - 20_000_000
    return target if target - now >= NS // 2 else target + NS


def _run_over(ctx: Context, now: int) -> bool:
    if ctx.send_end_ns is None or now < ctx.send_end_ns + ctx.drain_ns:
        return False
    pending = ctx.recorder.ledger.leaves_pending_until()
    return pending is None or now >= pending


def _finish(ctx: Context, now: int, incomplete: bool = False, ended: bool = False) -> None:
    """Finalize the ledger and send (or keep) this process's final report; `incomplete`
    (a signal) or a stop before the plan's end marks the run incomplete. `ended`: the run
    reached its end by itself, and a headless local run quits (a stop is quitting already:
    a second quit would race the first one's stopping users)."""
    if ctx.finished.is_set():
        return
    incomplete = incomplete or (ctx.send_end_ns is not None and not _run_over(ctx, now))
    ctx.finished.set()
    ctx.recorder.finalize(now)
    report = ctx.recorder.take(final=True)
    _failure_events(ctx.env, report.get("totals", {}))
    runner = ctx.env.runner
    if isinstance(runner, WorkerRunner):
        report["shift_s"] = clock.CLOCK["shift_s"]
        report["incomplete"] = incomplete
        report["clock"] = {
            "offset_ms": clock.CLOCK["offset_ms"],
            "bound_ms": clock.CLOCK["bound_ms"],
        }
        runner.send_message(collect.FINAL_MESSAGE, report)
    elif isinstance(runner, LocalRunner):
        COLLECTED.aggregate.merge(report)
        collect.write_results(ctx.env, incomplete=incomplete)
        if ended and option(ctx.env, "headless", False):
            gevent.spawn_later(0.2, runner.quit)


def _failure_events(env: Environment, totals: dict[str, int]) -> None:
    for name in (
        "lost",
        "duplicated",
        "out_of_order",
        "leaked",
        "leave_missing",
        "online_mismatches",
        "server_closes",
        "connections_lost",
        "protocol_errors",
    ):
        if totals.get(name):
            error = Exception(f"{totals[name]} {name}")
            _request(env, "LEDGER", name, 0, 0, error)  # the count is in the message


def _on_test_stop(environment: Environment, **_: Any) -> None:
    if _context is not None and not isinstance(environment.runner, MasterRunner):
        _finish(_context, time.time_ns())


def _on_quitting(environment: Environment, **_: Any) -> None:
    """Locust is shutting down (SIGTERM, SIGINT, the end of a run): a run still going is
    stopped here and written as incomplete, with what was collected."""
    if isinstance(environment.runner, MasterRunner):
        collect.stop_early(environment)
    elif _context is not None:
        _finish(_context, time.time_ns(), incomplete=True)


def _report(client_id: str, data: dict[str, Any]) -> None:
    if _context is not None and not _context.recorder.totals_sent:
        data["chatbench"] = _context.recorder.take()
        data["chatbench"]["shift_s"] = clock.CLOCK["shift_s"]


def _on_init(environment: Environment, **_: Any) -> None:
    if option(environment, "cb_quiet", False):
        console.quiet()
    if environment.web_ui is not None:
        webui.extend(environment.web_ui)
    runner = environment.runner
    port = int(option(environment, "cb_prometheus_port", 0) or 0)
    if port and not isinstance(runner, WorkerRunner):
        exporter.serve(port, COLLECTED)
    if isinstance(runner, MasterRunner):
        runner.register_message(collect.FINAL_MESSAGE, collect.on_final)
        runner.register_message(clock.PING, clock.on_ping)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(clock.PONG, clock.on_pong)
    # quitting fires in reverse order of registration: ours (stop, final reports, results)
    # must run before the runners' own listeners send their "quit" messages
    events.quitting.remove_listener(_on_quitting)  # type: ignore[no-untyped-call]
    events.quitting.add_listener(_on_quitting)  # type: ignore[no-untyped-call]


# Registered on import (decorators would hide the listeners' types from mypy).
_LISTENERS = (
    (events.init_command_line_parser, options.register),
    (events.test_start, _on_test_start),
    (events.test_stopping, _on_test_stop),  # settle before the users' stop timeout
    (events.test_stop, _on_test_stop),
    (events.quitting, _on_quitting),
    (events.report_to_master, _report),
    (events.worker_report, collect.worker_report),
    (events.init, _on_init),
)
for _hook, _listener in _LISTENERS:
    _hook.add_listener(_listener)  # type: ignore[no-untyped-call]
