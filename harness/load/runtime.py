"""Locust glue: chatbench's options, the per-process run context, and master/worker reporting.

Importing this module (users.py does) registers event listeners on `locust.events`:

- `init_command_line_parser`: the `--cb-*` options (also shown in the web UI).
- `test_start` on a process that runs users (local runner or worker): the run's timeline. A
  ticker greenlet samples CPU and connections once a second, runs due leave checks, fires one
  Locust request event per second with the fan-out p99, and, once the send phase and the drain
  are over, finalizes the ledger and reports.
- `report_to_master` / `worker_report`: workers send the buckets filled since their last
  report; the master merges them (exact HDR addition). At the end each worker sends its final
  report as a `chatbench_final` message; when every worker's is in, the master writes the
  results and quits. A local run does the same in one process.
"""

from __future__ import annotations

import gc
import logging
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import orjson
import psutil
from locust import events
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from harness.load import hist
from harness.load.aggregate import SATURATION_CPU, Aggregate, write_outputs
from harness.load.ledger import NS, Ledger
from harness.load.plan import Fractions, RoomPlan, process_plan
from harness.load.recorder import Recorder

log = logging.getLogger("chatbench")
FINAL_MESSAGE = "chatbench_final"
CLOCK_PING = "chatbench_clock_ping"
CLOCK_PONG = "chatbench_clock_pong"


def _options(parser: Any) -> None:
    group = parser.add_argument_group("chatbench")
    add = group.add_argument
    add("--cb-urls", default="", help="server base URLs (space separated; default --host)")
    add("--cb-rooms", type=int, default=0, help="rooms over all processes (0: one per 20 users)")
    add("--cb-room-size", default="even", help="room sizes: even, zipf or weights 1,1,10")
    add("--cb-rooms-plan", default="", help="room sizes of each process (set by chatbench)")
    add("--cb-rate", type=float, default=1.0, help="messages per chatter per second")
    add("--cb-duration", type=float, default=0, help="send phase seconds (0: until stopped)")
    add("--cb-drain", type=float, default=2.0, help="seconds a message may take to arrive")
    add("--cb-leave-deadline", type=float, default=5.0, help="seconds for `NAME left`")
    add("--cb-payload-bytes", type=int, default=0, help="probe text padded to this size")
    add("--cb-churn", type=float, default=0.0, help="share of churners (abrupt drops)")
    add("--cb-churn-interval", type=float, default=3.0, help="mean seconds between drops")
    add("--cb-slow", type=float, default=0.0, help="share of slow consumers")
    add("--cb-lurkers", type=float, default=0.0, help="share of lurkers (read only)")
    add("--cb-timing", default="open", choices=["open", "closed"], help="open or closed loop")
    add("--cb-connect-timeout", type=float, default=10.0, help="seconds per connect")
    add("--cb-out", default="", help="directory for results.json and fanout.hlog")
    add("--cb-config", default="{}", help="JSON merged into results config (by chatbench)")


def _option(env: Environment, name: str, default: Any) -> Any:
    return getattr(env.parsed_options, name, default) if env.parsed_options else default


@dataclass
class Context:
    """Everything one Locust process knows about its part of the run."""

    env: Environment
    plan: RoomPlan
    urls: list[str]
    prefix: str
    recorder: Recorder
    rate: float
    payload_bytes: int
    open_loop: bool
    churn_interval: float
    connect_timeout: float
    start_ns: int = 0
    send_end_ns: int | None = None
    drain_ns: int = 0
    finished: gevent.event.Event = field(default_factory=gevent.event.Event)
    next_slot: int = 0
    connections: int = 0

    def room_name(self, index: int) -> str:
        """The id of this process's room `index` (unique to the process and run)."""
        return f"cb{self.prefix}r{index}"

    def url_for(self, slot: int, room: str, name: str) -> str:
        """The WebSocket URL slot `slot` joins `room` at (slots spread over the URLs)."""
        base = self.urls[slot % len(self.urls)].rstrip("/")
        return f"{base}/ws/chat/{room}?username={name}"

    def sending(self, now: int) -> bool:
        """Whether the send phase is still on."""
        return not self.finished.is_set() and (self.send_end_ns is None or now < self.send_end_ns)


_context: Context | None = None
_aggregate = Aggregate()
_master: dict[str, Any] = {"start_s": 0, "workers": 0, "written": False, "clocks": {}}


def context(env: Environment) -> Context:
    """This process's run context (built on first use)."""
    global _context
    if _context is None:
        _context = _build_context(env)
    return _context


def _build_context(env: Environment) -> Context:
    processes = 1
    if isinstance(env.runner, WorkerRunner):
        processes = max(1, int(_option(env, "expect_workers", 1) or 1))
    sizes_text = _option(env, "cb_rooms_plan", "")
    if sizes_text:
        sizes = [int(s) for s in sizes_text.split(",")]
    else:
        users = int(_option(env, "num_users", 0) or 0) or 20
        rooms = int(_option(env, "cb_rooms", 0)) or max(1, round(users / 20))
        spec = _option(env, "cb_room_size", "even")
        sizes = process_plan(users, rooms, spec, processes)
    fractions = Fractions(
        _option(env, "cb_churn", 0.0), _option(env, "cb_slow", 0.0), _option(env, "cb_lurkers", 0.0)
    )
    prefix = secrets.token_hex(3)
    plan = RoomPlan(sizes, fractions)
    room_sizes = {f"cb{prefix}r{k}": size for k, size in enumerate(sizes)}
    drain = float(_option(env, "cb_drain", 2.0))
    deadline = float(_option(env, "cb_leave_deadline", 5.0))
    recorder = Recorder(Ledger(int(drain * NS), int(deadline * NS)), room_sizes)
    urls = (_option(env, "cb_urls", "") or env.host or "").split()
    if not urls:
        raise RuntimeError("chatbench: no server URL (--cb-urls or --host)")
    return Context(
        env=env,
        plan=plan,
        urls=urls,
        prefix=prefix,
        recorder=recorder,
        rate=float(_option(env, "cb_rate", 1.0)),
        payload_bytes=int(_option(env, "cb_payload_bytes", 0)),
        open_loop=_option(env, "cb_timing", "open") == "open",
        churn_interval=float(_option(env, "cb_churn_interval", 3.0)),
        connect_timeout=float(_option(env, "cb_connect_timeout", 10.0)),
        drain_ns=int(drain * NS),
    )


# -- processes that run users ---------------------------------------------------------------


def _on_test_start(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        _master["start_s"] = time.time_ns() // NS
        _master["workers"] = int(_option(environment, "expect_workers", 1) or 1)
        gevent.spawn(_progress, environment)
        gevent.spawn(_master_watchdog, environment)
        return
    global _context, _aggregate
    if _context is not None and _context.finished.is_set():  # a new run from the web UI
        _context, _aggregate = None, Aggregate()
        _master["written"] = False
    ctx = context(environment)
    _quiet_gc()
    ctx.start_ns = time.time_ns()
    duration = float(_option(environment, "cb_duration", 0))
    ctx.send_end_ns = ctx.start_ns + int(duration * NS) if duration > 0 else None
    ctx.recorder.on_rtt = lambda us: _rtt_event(environment, us)
    gevent.spawn(_ticker, ctx)
    if isinstance(runner, LocalRunner):
        _master["start_s"] = ctx.start_ns // NS
        gevent.spawn(_progress, environment)
    if isinstance(runner, WorkerRunner):
        gevent.spawn(_clock_sync, runner)


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


def _quiet_gc() -> None:
    """Keep the cyclic GC from pausing the receive path for long (a pause is latency)."""
    gc.collect()
    gc.freeze()  # what exists now (Locust, gevent, modules) is never scanned again
    gc.set_threshold(50_000, 20, 100)


def _rtt_event(env: Environment, us: int) -> None:
    _request(env, "WS", "message rtt", us / 1000, 0, None)


def _ticker(ctx: Context) -> None:
    """Once a second: gauges, leave checks, a Locust event; then the end of the run."""
    proc = psutil.Process()
    proc.cpu_percent(None)
    warned = False
    first = True
    while not ctx.finished.is_set():
        now = time.time_ns()
        wait = (NS - now % NS) / NS + 0.001
        if first and wait < 0.5:  # a CPU share over a sliver of a second is noise
            ctx.recorder.tick(now, ctx.connections, 0.0, False)
            wait += 1
        first = False
        gevent.sleep(wait)
        now = time.time_ns()
        cpu = proc.cpu_percent(None)
        saturated = cpu > SATURATION_CPU
        if saturated and not warned:
            warned = True
            log.warning(
                "chatbench: generator CPU at %.0f%%: latencies now measure the generator", cpu
            )
        current = ctx.recorder.buckets.get((now - 1) // NS)
        ctx.recorder.tick(now, ctx.connections, cpu, saturated)
        if current is not None:
            _second_event(ctx.env, current)
        if isinstance(ctx.env.runner, LocalRunner):
            _aggregate.merge(ctx.recorder.take())
        if _run_over(ctx, now):
            _finish(ctx, now)


def _second_event(env: Environment, bucket: Any) -> None:
    fanout = hist.merged(list(bucket.fanout.values()))
    if fanout.get_total_count():
        p99_ms = fanout.get_value_at_percentile(99) / 1000
        _request(env, "WS", "fanout p99 per second", p99_ms, fanout.get_total_count(), None)


def _run_over(ctx: Context, now: int) -> bool:
    if ctx.send_end_ns is None or now < ctx.send_end_ns + ctx.drain_ns:
        return False
    pending = ctx.recorder.ledger.leaves_pending_until()
    return pending is None or now >= pending


def _finish(ctx: Context, now: int) -> None:
    """Finalize the ledger and send (or keep) this process's final report."""
    if ctx.finished.is_set():
        return
    ctx.finished.set()
    ctx.recorder.finalize(now)
    report = ctx.recorder.take(final=True)
    _failure_events(ctx.env, report.get("totals", {}))
    runner = ctx.env.runner
    if isinstance(runner, WorkerRunner):
        report["shift_s"] = _clock["shift_s"]
        report["clock"] = {"offset_ms": _clock["offset_ms"], "bound_ms": _clock["bound_ms"]}
        runner.send_message(FINAL_MESSAGE, report)
    elif isinstance(runner, LocalRunner):
        _aggregate.merge(report)
        _write_results(ctx.env)
        if _option(ctx.env, "headless", False):
            gevent.spawn_later(0.2, runner.quit)


def _failure_events(env: Environment, totals: dict[str, int]) -> None:
    for name in (
        "lost",
        "duplicated",
        "out_of_order",
        "leaked",
        "leave_missing",
        "online_mismatches",
    ):
        if totals.get(name):
            error = Exception(f"{totals[name]} {name}")
            _request(env, "LEDGER", name, 0, totals[name], error)


def _on_test_stop(environment: Environment, **_: Any) -> None:
    if _context is not None and not isinstance(environment.runner, MasterRunner):
        _finish(_context, time.time_ns())


def _report(client_id: str, data: dict[str, Any]) -> None:
    if _context is not None and not _context.recorder.totals_sent:
        data["chatbench"] = _context.recorder.take()
        data["chatbench"]["shift_s"] = _clock["shift_s"]


# -- the master -----------------------------------------------------------------------------


def _worker_report(client_id: str, data: dict[str, Any]) -> None:
    report = data.get("chatbench")
    if report:
        _aggregate.merge(report, int(report.get("shift_s", 0)))


def _on_init(environment: Environment, **_: Any) -> None:
    if environment.web_ui is not None:
        _extend_web_ui(environment.web_ui)
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message(FINAL_MESSAGE, _on_final)
        runner.register_message(CLOCK_PING, _on_clock_ping)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(CLOCK_PONG, _on_clock_pong)


_WEB_COLUMNS = (
    ("t", "second"),
    ("connections", "connections"),
    ("sent", "sent"),
    ("delivered", "delivered"),
    ("p50_ms", "fan-out p50 ms"),
    ("p99_ms", "fan-out p99 ms"),
    ("max_ms", "fan-out max ms"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("out_of_order", "out of order"),
    ("leaked", "leaked"),
    ("leave_missing", "leave missing"),
    ("cpu", "generator cpu %"),
)


def _extend_web_ui(web_ui: Any) -> None:
    """A "chatbench" tab in Locust's web UI: the last 30 merged seconds."""
    from flask import request

    web_ui.template_args["extendedTabs"] = [{"title": "chatbench", "key": "chatbench"}]
    web_ui.template_args["extendedTables"] = [
        {"key": "chatbench", "structure": [{"key": k, "title": t} for k, t in _WEB_COLUMNS]}
    ]

    @web_ui.app.after_request  # type: ignore[untyped-decorator]
    def _extend_stats(response: Any) -> Any:
        if request.path != "/stats/requests" or not response.is_json:
            return response
        rows = [
            _web_row(offset, second) for offset, second in _aggregate.intervals(_master["start_s"])
        ]
        body = {**response.json, "extended_stats": [{"key": "chatbench", "data": rows[-30:][::-1]}]}
        response.set_data(orjson.dumps(body))
        return response


def _web_row(offset: int, second: Any) -> dict[str, Any]:
    h = second.fanout_all()
    c = second.counts
    return {
        "t": offset,
        "connections": second.connections,
        **{k: c[k] for k in ("sent", "delivered", "lost", "duplicated", "out_of_order")},
        **{k: c[k] for k in ("leaked", "leave_missing")},
        "p50_ms": h.get_value_at_percentile(50) / 1000,
        "p99_ms": h.get_value_at_percentile(99) / 1000,
        "max_ms": h.get_max_value() / 1000,
        "cpu": round(second.cpu),
    }


def _on_final(environment: Environment, msg: Any, **_: Any) -> None:
    report = msg.data
    _aggregate.merge(report, int(report.get("shift_s", 0)))
    _master["clocks"][msg.node_id] = report.get("clock", {})
    if _aggregate.finals >= _master["workers"]:
        _write_results(environment)
        if _option(environment, "headless", False) and environment.runner is not None:
            gevent.spawn_later(0.2, environment.runner.quit)


def _master_watchdog(environment: Environment) -> None:
    """Write what arrived if some worker never sends its final report."""
    duration = float(_option(environment, "cb_duration", 0))
    if duration <= 0:
        return
    slack = float(_option(environment, "cb_drain", 2)) + float(
        _option(environment, "cb_leave_deadline", 5)
    )
    gevent.sleep(duration + slack + 30)
    if not _master["written"]:
        log.error(
            "chatbench: %d of %d workers reported; results are incomplete",
            _aggregate.finals,
            _master["workers"],
        )
        _write_results(environment, incomplete=True)
        if environment.runner is not None:
            environment.runner.quit()


# -- clocks (workers on other machines) -------------------------------------------------------

_clock: dict[str, Any] = {"shift_s": 0, "offset_ms": 0.0, "bound_ms": 0.0, "samples": []}


def _clock_sync(runner: WorkerRunner) -> None:
    """Estimate this worker's clock offset to the master (NTP-style, best of five)."""
    for _ in range(5):
        runner.send_message(CLOCK_PING, {"t1": time.time_ns()})
        gevent.sleep(0.2)


def _on_clock_ping(environment: Environment, msg: Any, **_: Any) -> None:
    runner = environment.runner
    assert isinstance(runner, MasterRunner)
    runner.send_message(
        CLOCK_PONG, {"t1": msg.data["t1"], "t2": time.time_ns()}, client_id=msg.node_id
    )


def _on_clock_pong(environment: Environment, msg: Any, **_: Any) -> None:
    t3 = time.time_ns()
    t1, t2 = msg.data["t1"], msg.data["t2"]
    rtt = t3 - t1
    best = _clock["samples"][0][0] if _clock["samples"] else None
    if best is None or rtt < best:
        _clock["samples"] = [(rtt, t2 - (t1 + t3) // 2)]
        offset = _clock["samples"][0][1]
        _clock["offset_ms"] = offset / 1e6
        _clock["bound_ms"] = rtt / 2e6
        _clock["shift_s"] = round(offset / NS)


# -- output ---------------------------------------------------------------------------------


def _write_results(environment: Environment, incomplete: bool = False) -> None:
    if _master["written"]:
        return
    _master["written"] = True
    out = _option(environment, "cb_out", "")
    config = _config(environment, incomplete)
    doc = _aggregate.results(_master["start_s"], config)
    _print_summary(doc)
    if out:
        write_outputs(Path(out), doc, _aggregate, _master["start_s"])


def _config(environment: Environment, incomplete: bool) -> dict[str, Any]:
    config: dict[str, Any] = orjson.loads(_option(environment, "cb_config", "{}") or "{}")
    config.update(
        processes=_master["workers"] if isinstance(environment.runner, MasterRunner) else 1,
        processes_reported=_aggregate.finals,
        incomplete=incomplete or _aggregate.finals < max(1, _master["workers"]),
        pid=os.getpid(),
    )
    if _master["clocks"]:
        config["worker_clocks"] = list(_master["clocks"].values())
    return config


def _print_summary(doc: dict[str, Any]) -> None:
    f, d, c = doc["fanout_latency_us"], doc["deliveries"], doc["cleanup"]
    print(
        f"[chatbench] fan-out p50 {f['p50'] / 1000:.2f} ms p99 {f['p99'] / 1000:.2f} ms "
        f"({f['count']} deliveries); expected {d['expected']} lost {d['lost']} "
        f"duplicated {d['duplicated']} out_of_order {d['out_of_order']} leaked {d['leaked']}; "
        f"abrupt {c['abrupt_disconnects']} leave_missing {c['leave_missing']} "
        f"online_mismatches {c['online_mismatches']}",
        file=sys.stderr,
        flush=True,
    )


def _progress(environment: Environment) -> None:
    """A line every two seconds: what the last complete second looked like."""
    while not _master["written"]:
        gevent.sleep(2)
        secs = _aggregate.seconds
        if not secs:
            continue
        last = max(secs) - 1  # the newest second is still filling
        second = secs.get(last)
        if second is None:
            continue
        h = second.fanout_all()
        print(
            f"[chatbench] t={last - _master['start_s']:>4}s connections {second.connections} "
            f"sent/s {second.counts['sent']} delivered/s {second.counts['delivered']} "
            f"p99 {h.get_value_at_percentile(99) / 1000:.2f} ms cpu {second.cpu:.0f}%",
            file=sys.stderr,
            flush=True,
        )


# Registered on import (decorators would hide the listeners' types from mypy).
_LISTENERS = (
    (events.init_command_line_parser, _options),
    (events.test_start, _on_test_start),
    (events.test_stop, _on_test_stop),
    (events.report_to_master, _report),
    (events.worker_report, _worker_report),
    (events.init, _on_init),
)
for _hook, _listener in _LISTENERS:
    _hook.add_listener(_listener)  # type: ignore[no-untyped-call]
