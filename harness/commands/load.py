"""`chatbench load URL [URL ...]`: run Locust headless with chatbench's users and write results.

This module imports neither locust nor gevent: it checks the arguments (the protocol profile
among them), makes sure the server answers, starts `python -m locust -f scenarios/locustfile.py
--headless ...` (or the user's own `--locustfile`) as a child process (progress lines stream
through), then judges the SLO gates on DIR/results.json.
Exit codes: 0 every gate held, 1 a gate was missed or the run is broken (nothing was
delivered, the server broke the WebSocket protocol or ended every user's connection), 2 usage
or connection error, 3 chatbench itself erred (never counted as the server's failure), 128+N
signal N stopped the run (harness.load.child; results.json is then marked incomplete).
"""

from __future__ import annotations

import argparse
import importlib.util
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from harness.commands import load_options, load_run, load_storm
from harness.errors import UnreachableError, UsageError
from harness.load import child, profiles, serverwatch
from harness.load.slo import Slo, judge_all
from harness.load.verdict import codes
from harness.profile import ChatProtocol, builtin_names
from harness.redact import redact_url

DESCRIPTION = """\
Swarm a chat server with Locust users: fan-out latency (HdrHistogram), a delivery ledger
(lost, duplicated, out of order, leaked), cleanup after abrupt drops; DIR/results.json.

  chatbench load ws://127.0.0.1:8000 --users 200 --rate 2 --duration 30s --out run1 \\
      --slo 'p99<50ms' --slo 'lost==0'

Locust's own log goes to DIR/locust.log (--verbose: to the console); arguments after `--`
go to Locust as they are (... --out run1 -- --loglevel DEBUG). Ctrl-C or SIGTERM stops the
run within seconds and writes what was collected, marked incomplete.

Exit codes: 0 every --slo gate held; 1 a gate missed, or the run proves nothing (nothing
delivered, the server broke the WebSocket protocol or ended every user's connection); 2 a
usage error or an unreachable server; 3 a bug in chatbench (never the server's failure);
130 (SIGINT) or 143 (SIGTERM) an interrupted run, whatever its gates. docs/load.md.
"""
SLACK_S = 60.0
LOCUST_LOG = load_run.LOCUST_LOG
SOURCES_ENV = "CHATBENCH_WORKER_SOURCES"
"""= harness.load.storming.SOURCES_ENV (which imports locust); no option of that name, so the
config's CHATBENCH_<OPTION> variables never mistake it for one."""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "load",
        help="swarm a chat server with Locust: fan-out latency, delivery ledger, cleanup",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    load_options.add_arguments(p)
    return p


def preflight(
    url: str, timeout: float, protocol: ChatProtocol, headers: Sequence[tuple[str, str]] = ()
) -> None:
    """UnreachableError unless `url` accepts a WebSocket handshake where the profile says."""
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect
    from websockets.typing import Subprotocol

    room, member = f"cbpreflight{secrets.token_hex(3)}", secrets.randbelow(10**9)
    target = url.rstrip("/") + protocol.path(room, "preflight", member)
    try:
        with connect(
            target,
            open_timeout=timeout,
            additional_headers=[*protocol.headers(room, "preflight", member), *headers],
            subprotocols=[Subprotocol(s) for s in protocol.subprotocols()] or None,
            proxy=None,
        ):
            pass
    except (OSError, TimeoutError, WebSocketException) as exc:
        shown = redact_url(url.rstrip("/") + protocol.shown_path(room, "preflight", member))
        raise UnreachableError(f"{shown}: {exc}{load_run.path_hint(url)}") from exc


def locustfile() -> str:
    """The path of scenarios/locustfile.py."""
    spec = importlib.util.find_spec("scenarios")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("the scenarios package is missing from this installation")
    return str(Path(next(iter(spec.submodule_search_locations))) / "locustfile.py")


def locust_argv(args: argparse.Namespace) -> list[str]:
    """The command line of the Locust child process."""
    users_file = str(args.locustfile.resolve()) if args.locustfile else locustfile()
    argv = [sys.executable, "-m", "locust", "-f", users_file, "--headless", "--only-summary"]
    argv += ["--exit-code-on-error", "0"]  # ledger failures are judged by --slo, not Locust
    if args.worker:
        argv += ["--worker", "--master-host", args.master_host]
        return [*argv, "--master-port", str(args.master_port), *args.passthrough]
    sizes = load_options.sizes(args)
    spawn = args.spawn_rate or float(args.users)
    run_time = int(args.duration + args.users / spawn + args.drain + args.leave_deadline + 30)
    argv += ["-u", str(args.users), "-r", str(spawn), "-t", f"{run_time}s"]
    # --stop-timeout 0: a user never ends its task by itself (it idles once the run is over),
    # so a grace would only delay every stop; a stopped user still closes cleanly (on_stop)
    argv += ["--host", args.urls[0], "--csv", str(args.out / "locust"), "--stop-timeout", "0"]
    if args.prometheus_port is not None:
        argv += ["--cb-prometheus-port", str(args.prometheus_port)]
    if args.processes:  # a free port, not 5557: two runs on one machine must not collide
        port = str(load_run.free_port())
        argv += ["--processes", str(args.processes), "--master-bind-port", port]
        argv += ["--master-port", port]
    elif args.master:
        argv += ["--master", "--expect-workers", str(args.expect_workers)]
        argv += ["--master-bind-port", str(args.master_port)]
    options = {
        "urls": " ".join(args.urls),
        "rooms-plan": ",".join(map(str, sizes)),
        "rooms": args.rooms,
        "room-size": args.room_size,
        "rate": args.rate,
        "duration": args.duration,
        "drain": args.drain,
        "leave-deadline": args.leave_deadline,
        "payload-bytes": args.payload_bytes,
        "churn": args.churn,
        "churn-interval": args.churn_interval,
        "slow": args.slow,
        "lurkers": args.lurkers,
        "timing": args.timing,
        "connect-timeout": args.connect_timeout,
        "max-message-bytes": args.max_message_bytes,
        "out": str(args.out),
        "config": orjson.dumps(config(args, sizes)).decode(),
        "profile": _profile_argument(args.profile),
        "path-template": args.path_template or "",
    }
    options.update(load_storm.locust_options(args))
    for name, value in options.items():
        argv += [f"--cb-{name}", str(value)]
    for header in args.header:
        argv += ["--cb-header", header]
    if not args.verbose:  # Locust's INFO lines and tables into DIR/locust.log
        argv += ["--logfile", str(args.out / LOCUST_LOG), "--cb-quiet"]
    return [*argv, *args.passthrough]


def _profile_argument(name: str) -> str:
    """A profile file as an absolute path (the child may resolve it elsewhere); a built-in
    name as it is."""
    path = Path(name)
    return str(path.resolve()) if name not in builtin_names() and path.is_file() else name


def config(args: argparse.Namespace, sizes: list[int]) -> dict[str, Any]:
    """The run's settings as results.json records them."""
    return {
        "urls": [redact_url(u) for u in args.urls],  # results never carry a password
        "url": redact_url(args.urls[0]),
        "users": args.users,
        "rooms": args.rooms if args.protocol.rooms else 1,
        "room_size": args.room_size,
        "room_sizes_per_process": sizes,
        "rate": args.rate,
        "duration_s": args.duration,
        "spawn_rate": args.spawn_rate or float(args.users),
        "payload_bytes": args.payload_bytes,
        "churn": args.churn,
        "churn_interval_s": args.churn_interval,
        "slow": args.slow,
        "lurkers": args.lurkers,
        "timing": args.timing,
        "drain_s": args.drain,
        "leave_deadline_s": args.leave_deadline,
        "max_message_bytes": args.max_message_bytes,
        "slo": args.slo,
        "headers": [name for name, _ in profiles.parse_headers(args.header, "--header")],
        "locustfile": str(args.locustfile) if args.locustfile else "",
        **load_storm.config(args),
    }


def run_locust(
    argv: list[str], timeout: float, extra_env: dict[str, str] | None = None
) -> child.Outcome:
    """Run Locust in its own process group (signals forwarded; see harness.load.child)."""
    return child.run(argv, timeout, extra_env)


def run(args: argparse.Namespace) -> int:
    """Run the load test; exit 1 when an SLO gate is missed, 128+N when signal N stopped it."""
    slos = load_options.validate(args)
    if args.worker:
        own = {SOURCES_ENV: args.source_addresses} if args.source_addresses else {}
        outcome = run_locust(locust_argv(args), 24 * 3600, own)  # its own addresses
        return outcome.exit_code if outcome.signum else outcome.code
    if not args.serve:
        with child.interruptible():
            return _run(args, slos)
    from harness.load.served import ServedServer, ServeError

    with child.interruptible(), ServedServer() as served:
        try:
            args.urls = [served.start()]
        except ServeError as exc:
            raise UnreachableError(f"--serve: {exc}") from None
        print(f"chatbench load: serving the reference server at {served.url}", file=sys.stderr)
        if not serverwatch.wanted(args):  # its own side too: its /metrics, restarts and all
            args.server_metrics = served.metrics_url
        if args.restart_at:
            served.restart_on()
        return _run(args, slos, served.restarts)


def _run(args: argparse.Namespace, slos: list[Slo], restarts: list[Any] | None = None) -> int:
    """Preflight, the Locust run, the gates; 128+N when signal N stopped it."""
    headers = profiles.parse_headers(args.header, "--header")
    for url in args.urls:
        preflight(url, args.connect_timeout, args.protocol, headers)
    results_path = load_run.prepare_out(args.out)
    ramp = args.users / (args.spawn_rate or args.users)
    timeout = args.duration + ramp + args.drain + args.leave_deadline + SLACK_S
    sampler = serverwatch.begin(args)
    if not args.verbose:
        load_run.say(f"Locust's log: {args.out / LOCUST_LOG} (--verbose shows it here)")
    try:
        outcome = run_locust(locust_argv(args), timeout)
    finally:
        serverwatch.end(sampler)
    if not results_path.exists():
        if outcome.signum:  # nothing collected yet: an interrupted run, not a verdict
            print(f"{load_run.stopped(outcome)} before any result was written", file=sys.stderr)
            return outcome.exit_code
        raise load_run.no_results(args, outcome)
    doc = orjson.loads(results_path.read_bytes())
    if not outcome.signum:
        load_run.check_users_ran(args, doc)
    if restarts is not None and args.restart_at:
        doc["config"]["restarts"] = restarts
        for failed in (r["error"] for r in restarts if "error" in r):
            print(f"warning: the restart of the served server failed: {failed}")
        if not restarts:
            print("warning: the served server was never restarted (the run ended first?)")
    if sampler is not None:
        doc["server"] = serverwatch.telemetry(sampler, doc)
    doc["slo"] = judge_all(slos, doc)
    load_run.write_atomically(results_path, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    code = verdict(doc, results_path)
    if outcome.signum:
        print(f"incomplete run: {load_run.stopped(outcome)}")
        return outcome.exit_code
    return code


def verdict(doc: dict[str, Any], results_path: Path) -> int:
    """Print the gates, the server's closes and why the run is broken; the exit code."""
    for gate in doc["slo"]:
        mark = "ok  " if gate["ok"] else "MISS"
        why = f"; {gate['reason']}" if gate.get("reason") else ""
        print(f"slo {mark} {gate['expr']} (observed {gate['value']:g}{why})")
    ended = ended_by_server(doc)
    if ended:
        print(f"warning: {ended}")
    if doc.get("server"):
        print(serverwatch.summary(doc["server"]))
    print(f"results: {results_path}")
    harness_errors = doc["connections"].get("harness_errors", 0)
    if harness_errors:
        print(
            f"harness error: chatbench ended {harness_errors} connections by a bug of its own "
            "(see the log above); these results say nothing about the server"
        )
        return 3
    if doc["broken"]:
        print("broken run: " + "; ".join(doc["broken"]))
        return 1
    config = doc.get("config", {})
    if config.get("processes_reported", 1) < config.get("processes", 1):
        print(  # the watchdog wrote what arrived: never green
            f"incomplete run: {config['processes_reported']} of {config['processes']} Locust "
            "processes sent their final report"
        )
        return 1
    return 0 if all(v["ok"] for v in doc["slo"]) else 1


def ended_by_server(doc: dict[str, Any]) -> str:
    """One line on the connections the server ended ("" when it ended none)."""
    c, sends = doc["connections"], doc["sends"]
    closes, lost = sum(c["server_closes"].values()), c["lost"]
    failed = sum(c["protocol_errors"].values())
    if not closes + lost + failed:
        return ""
    parts = [f"the server ended {closes + lost + failed} connections"]
    if closes:
        parts.append(f"closes {codes(c['server_closes'])}")
    if lost:
        parts.append(f"{lost} lost without a close frame")
    if failed:
        parts.append(f"protocol errors {codes(c['protocol_errors'])}")
    parts.append(
        f"{c['reconnects']} reconnects, {sends['unsent']} of {sends['scheduled']} messages "
        f"unsent, {c['under_planned_s']} s under the planned connections"
    )
    return "; ".join(parts)
