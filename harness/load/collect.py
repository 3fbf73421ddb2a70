"""What the master (or a local run) collects, and the results it writes.

`COLLECTED.aggregate` merges the workers' reports (`worker_report`) and final reports
(`chatbench_final` messages); when every expected process has sent its final report the
results are written (DIR/results.json, DIR/fanout.hlog) and a headless run quits.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import orjson
from locust.env import Environment
from locust.runners import MasterRunner

from harness.load import profiles
from harness.load.aggregate import Aggregate, write_outputs
from harness.load.options import option
from harness.load.verdict import codes
from harness.redact import redact_url

log = logging.getLogger("chatbench")
FINAL_MESSAGE = "chatbench_final"
FINAL_WAIT_S = 1.5
"""Seconds a quitting master waits for its workers' final reports."""


@dataclass
class Collected:
    """The merged reports of one run and where it stands."""

    aggregate: Aggregate = field(default_factory=Aggregate)
    start_s: int = 0
    workers: int = 1
    written: bool = False
    clocks: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0
    """time.time() at the start (0: no run has started)."""
    incomplete: bool = False
    """A worker's final report said its part was cut short."""
    stopping: bool = False
    """The master is quitting (stop_early): the last final report must not quit it again."""

    def reset(self, start_s: int, workers: int) -> None:
        """A new run starts (the web UI can start several)."""
        self.aggregate = Aggregate()
        self.start_s, self.workers, self.written, self.clocks = start_s, workers, False, {}
        self.started, self.incomplete, self.stopping = time.time(), False, False


COLLECTED = Collected()


def worker_report(client_id: str, data: dict[str, Any]) -> None:
    """Merge the buckets a worker sent with its periodic stats (`worker_report` listener)."""
    report = data.get("chatbench")
    if report:
        COLLECTED.aggregate.merge(report, int(report.get("shift_s", 0)))


def on_final(environment: Environment, msg: Any, **_: Any) -> None:
    """A worker's final report; the last one expected writes the results."""
    report = msg.data
    COLLECTED.aggregate.merge(report, int(report.get("shift_s", 0)))
    COLLECTED.clocks[msg.node_id] = report.get("clock", {})
    COLLECTED.incomplete |= bool(report.get("incomplete"))
    if COLLECTED.aggregate.finals >= COLLECTED.workers:
        write_results(environment)
        quitting = COLLECTED.stopping  # stop_early: the master is quitting already
        if not quitting and option(environment, "headless", False) and environment.runner:
            gevent.spawn_later(0.2, environment.runner.quit)


def watchdog(environment: Environment) -> None:
    """Write what arrived if some worker never sends its final report."""
    duration = float(option(environment, "cb_duration", 0))
    if duration <= 0:
        return
    slack = float(option(environment, "cb_drain", 2)) + float(
        option(environment, "cb_leave_deadline", 5)
    )
    gevent.sleep(duration + slack + 30)
    if not COLLECTED.written:
        log.error(
            "chatbench: %d of %d workers reported; results are incomplete",
            COLLECTED.aggregate.finals,
            COLLECTED.workers,
        )
        write_results(environment, incomplete=True)
        if environment.runner is not None:
            environment.runner.quit()


def stop_early(environment: Environment) -> None:
    """The master is quitting with a run still going: tell the workers to stop, wait a
    moment for their final reports, write what arrived as incomplete."""
    from locust.rpc import Message

    runner = environment.runner
    if COLLECTED.written or not COLLECTED.started or not isinstance(runner, MasterRunner):
        return
    COLLECTED.stopping = True
    for client in runner.clients.all:
        runner.server.send_to_client(Message("stop", None, client.id))  # type: ignore[no-untyped-call]
    deadline = time.monotonic() + FINAL_WAIT_S
    while COLLECTED.aggregate.finals < COLLECTED.workers and time.monotonic() < deadline:
        gevent.sleep(0.05)  # the workers' final reports arrive on the runner's greenlet
    write_results(environment, incomplete=True)


def write_results(environment: Environment, incomplete: bool = False) -> None:
    """Assemble results.json and fanout.hlog (once) into --cb-out, and print the summary."""
    if COLLECTED.written:
        return
    COLLECTED.written = True
    out = option(environment, "cb_out", "")
    config = _config(environment, incomplete)
    doc = COLLECTED.aggregate.results(COLLECTED.start_s, config)
    _print_summary(doc)
    if out:
        write_outputs(Path(out), doc, COLLECTED.aggregate, COLLECTED.start_s)


def _config(environment: Environment, incomplete: bool) -> dict[str, Any]:
    config: dict[str, Any] = orjson.loads(option(environment, "cb_config", "{}") or "{}")
    from harness.load.runtime import protocol_for  # imports this module

    profile = option(environment, "cb_profile", "") or ""
    config["profile"] = profiles.facts(protocol_for(environment), profile)
    _web_ui_defaults(environment, config)
    incomplete = incomplete or COLLECTED.incomplete
    config.update(
        processes=COLLECTED.workers if isinstance(environment.runner, MasterRunner) else 1,
        processes_reported=COLLECTED.aggregate.finals,
        incomplete=incomplete or COLLECTED.aggregate.finals < max(1, COLLECTED.workers),
        pid=os.getpid(),
        start_s=COLLECTED.start_s,  # epoch second of t=0 (server telemetry aligns on it)
    )
    _durations(config)
    if COLLECTED.clocks:
        config["worker_clocks"] = list(COLLECTED.clocks.values())
    return config


def _web_ui_defaults(environment: Environment, config: dict[str, Any]) -> None:
    """What a run not started by `chatbench load` (plain locust, the web UI) was: the users,
    rate, URLs and send phase that Locust and the --cb-* options held."""
    runner = environment.runner
    users = getattr(runner, "target_user_count", None) or option(environment, "num_users", 0)
    urls = (option(environment, "cb_urls", "") or environment.host or "").split()
    config.setdefault("users", int(users or 0))
    config.setdefault("rate", float(option(environment, "cb_rate", 1.0)))
    config.setdefault("urls", [redact_url(u) for u in urls])
    config.setdefault("url", config["urls"][0] if config["urls"] else "")
    config.setdefault("duration_s", float(option(environment, "cb_duration", 0)))
    config.setdefault("spawn_rate", float(option(environment, "spawn_rate", 0) or 0))


def _durations(config: dict[str, Any]) -> None:
    """elapsed_s, the run's wall time; an incomplete run's duration_s is the send phase it
    really had (planned_duration_s keeps the plan); 0 planned (until stopped) is the time."""
    elapsed = round(time.time() - COLLECTED.started, 2) if COLLECTED.started else 0.0
    config["elapsed_s"] = elapsed
    planned = float(config.get("duration_s") or 0)
    config["planned_duration_s"] = planned
    if config["incomplete"] or not planned:
        config["duration_s"] = round(min(planned, elapsed), 2) if planned else elapsed


def _print_summary(doc: dict[str, Any]) -> None:
    f, d, c = doc["fanout_latency_us"], doc["deliveries"], doc["cleanup"]
    conns, sends = doc["connections"], doc["sends"]
    closes = codes(conns["server_closes"]) or "none"
    failed = codes(conns["protocol_errors"]) or "none"
    print(
        f"[chatbench] fan-out p50 {f['p50'] / 1000:.2f} ms p99 {f['p99'] / 1000:.2f} ms "
        f"({f['count']} deliveries); expected {d['expected']} lost {d['lost']} "
        f"duplicated {d['duplicated']} out_of_order {d['out_of_order']} leaked {d['leaked']} "
        f"replayed {d['replayed']}{_foreign(d)}; "
        f"abrupt {c['abrupt_disconnects']} leave_missing {c['leave_missing']} "
        f"online_mismatches {c['online_mismatches']} welcome_missing {c['welcome_missing']}\n"
        f"[chatbench] connections opened {conns['opened']} welcomed {conns['welcomed']}; "
        f"server closes {closes}; lost {conns['lost']}; protocol errors {failed}; "
        f"reconnects {conns['reconnects']}; under plan {conns['under_planned_s']} s; "
        f"sent {sends['sent']} of {sends['scheduled']} scheduled",
        file=sys.stderr,
        flush=True,
    )
    for line in connect_lines(doc):
        print(f"[chatbench] {line}", file=sys.stderr, flush=True)
    for reason in doc["broken"]:
        print(f"[chatbench] broken run: {reason}", file=sys.stderr, flush=True)


def connect_lines(doc: dict[str, Any]) -> list[str]:
    """The console's lines on connect latency and the reconnect storm."""
    c = doc.get("connect_latency_us") or {}
    peak = max((row.get("connects", 0) for row in doc["timeseries"]), default=0)
    lines = [
        f"connect p50 {c.get('p50', 0) / 1000:.1f} ms p99 {c.get('p99', 0) / 1000:.1f} ms "
        f"max {c.get('max', 0) / 1000:.1f} ms ({c.get('count', 0)} connects, "
        f"peak {peak} connects/s)"
    ]
    s = doc.get("storm")
    if s:

        def secs(v: float | None) -> str:
            return "never" if v is None else f"{v:.2f} s"

        failed = codes(s["failed_handshakes"]) or "none"
        lines.append(
            f"storm ({s.get('cause', 'drop')}) at {s['at_s']:.1f} s: dropped {s['dropped']}, "
            f"back {s.get('back', 0)}; 99% back after {secs(s['back_99_s'])}, all after "
            f"{secs(s['back_100_s'])}; failed handshakes {failed}; lost {s['lost']}; "
            f"left seen {s['left_seen']} of {s['left_owed']} owed, joined seen "
            f"{s['joined_seen']} of {s['joined_owed']} owed"
        )
    return lines


def _foreign(deliveries: dict[str, int]) -> str:
    n = deliveries.get("foreign", 0)
    return f" foreign {n}" if n else ""


def progress(environment: Environment) -> None:
    """A line every two seconds: what the last complete second looked like."""
    while True:
        gevent.sleep(2)
        if COLLECTED.written:
            return
        secs = COLLECTED.aggregate.seconds
        if not secs:
            continue
        last = max(secs) - 1  # the newest second is still filling
        second = secs.get(last)
        if second is None:
            continue
        h = second.fanout_all()
        print(
            f"[chatbench] t={_elapsed(environment, last - COLLECTED.start_s)} "
            f"connections {second.connections} "
            f"sent/s {second.counts['sent']} delivered/s {second.counts['delivered']} "
            f"p99 {h.get_value_at_percentile(99) / 1000:.2f} ms cpu {second.cpu:.0f}%",
            file=sys.stderr,
            flush=True,
        )


def _elapsed(environment: Environment, offset: int) -> str:
    """`12s/40s`: seconds into the run over its planned length (send phase and drain);
    `12s` for a run that lasts until stopped."""
    duration = float(option(environment, "cb_duration", 0))
    if duration <= 0:
        return f"{offset}s"
    total = duration + float(option(environment, "cb_drain", 2.0))
    return f"{offset}s/{total:.0f}s"
