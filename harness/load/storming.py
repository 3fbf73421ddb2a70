"""The storm and the source addresses in a Locust process: options in, greenlets out.

`run_storm` opens the process's `StormBook` at the storm's instant and ends (or marks) every
connection; `ask_restart` asks chatbench, by SIGUSR1, to restart the server it serves
(`--restart-at`). The storm's rules are in `harness.load.storm` (pure).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import TYPE_CHECKING

import gevent
from locust.env import Environment

from harness.errors import UsageError
from harness.load import sources, storm
from harness.load.ledger import NS
from harness.load.options import option
from harness.load.storm import StormPlan

if TYPE_CHECKING:
    from harness.load.runtime import Context

log = logging.getLogger("chatbench")
SOURCES_ENV = "CHATBENCH_SOURCE_ADDRESSES"


def plan(env: Environment) -> StormPlan:
    """The run's storm from the --cb-storm-at / --cb-restart-at / --cb-backoff-* options."""
    drop, restart = float(option(env, "cb_storm_at", 0)), float(option(env, "cb_restart_at", 0))
    return StormPlan(
        at_s=drop or restart,
        cause=storm.RESTART if restart and not drop else storm.DROP,
        base=float(option(env, "cb_backoff_base", storm.BACKOFF_BASE_S)),
        cap=float(option(env, "cb_backoff_cap", storm.BACKOFF_CAP_S)),
        restart_pid=int(option(env, "cb_restart_pid", 0)),
    )


def source_list(env: Environment) -> list[str]:
    """--cb-source-addresses, or this machine's own CHATBENCH_SOURCE_ADDRESSES (a worker's
    `chatbench load --worker --source-addresses`: the master's options would override it)."""
    text = os.environ.get(SOURCES_ENV) or option(env, "cb_source_addresses", "") or ""
    if not text:
        return []
    try:
        found = sources.parse_addresses(text)
        sources.check_local(found)
    except UsageError as exc:
        raise RuntimeError(f"chatbench: {exc}") from None
    return found


RESTART_LAG_S = 0.1
"""The restart is asked for this long after the storm's books open in every process, so no
process sees its connections end before it counts them."""


def run_storm(ctx: Context) -> None:
    """At the storm's instant: open the book, then end every connection (DROP) or mark the
    users whose connections the restarted server will end (RESTART)."""
    at = ctx.start_ns + int(ctx.storm.at_s * NS)
    gevent.sleep(max(0.0, (at - time.time_ns()) / NS))
    if ctx.finished.is_set():
        return
    book = storm.StormBook(time.time_ns(), ctx.storm.cause)
    ctx.recorder.start_storm(book)
    connected = [user for user in ctx.users if user.connected()]
    for user in connected:
        book.drop(user.uid)
    for user in connected:
        user.storm_hit(drop=ctx.storm.cause == storm.DROP)
    log.warning("chatbench: reconnect storm (%s): %d connections", book.cause, len(connected))


def ask_restart(plan: StormPlan, start_ns: int) -> None:
    """--restart-at: ask chatbench (SIGUSR1 to its process) to restart the served server."""
    if plan.cause != storm.RESTART or plan.at_s <= 0 or not plan.restart_pid:
        return
    at = start_ns + int((plan.at_s + RESTART_LAG_S) * NS)
    gevent.sleep(max(0.0, (at - time.time_ns()) / NS))
    try:
        os.kill(plan.restart_pid, signal.SIGUSR1)
    except OSError as exc:
        log.error("chatbench: could not ask for the restart: %s", exc)
