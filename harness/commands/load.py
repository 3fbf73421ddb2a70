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

from harness import validate as validate_value
from harness.commands import load_run, load_storm
from harness.errors import UnreachableError, UsageError
from harness.load import child, profiles, serverwatch
from harness.load.frames import MAX_MESSAGE_BYTES, MIN_MESSAGE_BYTES
from harness.load.plan import Fractions, process_plan
from harness.load.slo import Slo, judge_all, parse_slo
from harness.load.verdict import codes
from harness.profile import ChatProtocol, builtin_names
from harness.protocol import MAX_TEXT_CHARS
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
    p.add_argument("urls", nargs="*", metavar="URL", help="server base URL(s), ws://HOST:PORT")
    p.add_argument(
        "--profile",
        default="v1",
        metavar="NAME|FILE",
        help="how the server speaks: a built-in profile (v1, fastapi-docs, socketio) or a TOML "
        "file (default v1; docs/profiles.md)",
    )
    p.add_argument("--path-template", help="URL path template, overrides the profile's")
    p.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra handshake header (auth, Origin); repeatable",
    )
    p.add_argument(
        "--locustfile",
        type=Path,
        help="your own locustfile (users subclassing harness.load.users) instead of "
        "scenarios/locustfile.py; the ledger, gates and results.json stay chatbench's",
    )
    p.add_argument("--users", type=int, help="simulated members (required)")
    p.add_argument("--rooms", type=int, default=10, help="rooms (default 10)")
    p.add_argument("--rate", type=float, default=1.0, help="messages per chatter per second")
    p.add_argument(
        "--duration",
        type=validate_value.duration,
        default=10.0,
        help="send phase: seconds or 10s, 1m30s (default 10)",
    )
    p.add_argument("--out", type=Path, help="output directory (required)")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="show Locust's own log on the console (default: DIR/locust.log; warnings, errors "
        "and chatbench's lines are always shown)",
    )
    p.add_argument(
        "--force", action="store_true", help="overwrite an earlier run in --out (its results.json)"
    )
    p.add_argument(
        "--spawn-rate", type=float, help="users started per second (default: all in 1 s)"
    )
    p.add_argument("--room-size", default="even", help="room sizes: even, zipf or weights 1,1,10")
    p.add_argument("--payload-bytes", type=int, default=0, help="pad message texts to this size")
    p.add_argument("--churn", type=float, default=0.0, help="share of users that drop and rejoin")
    p.add_argument(
        "--churn-interval",
        type=validate_value.duration,
        default=3.0,
        help="mean seconds between drops",
    )
    p.add_argument("--slow", type=float, default=0.0, help="share of slow consumers")
    p.add_argument("--lurkers", type=float, default=0.0, help="share of read-only members")
    p.add_argument("--timing", choices=["open", "closed"], default="open", help="default open")
    p.add_argument(
        "--drain",
        type=validate_value.duration,
        default=2.0,
        help="seconds allowed for late messages",
    )
    p.add_argument(
        "--leave-deadline",
        type=validate_value.duration,
        default=5.0,
        help="seconds for `NAME left`",
    )
    p.add_argument(
        "--connect-timeout", type=validate_value.duration, default=10.0, help="seconds per connect"
    )
    p.add_argument(
        "--max-message-bytes",
        type=int,
        default=MAX_MESSAGE_BYTES,
        help="largest server message accepted (default 1 MiB); a larger one fails that "
        "connection (1009) and counts as a protocol error",
    )
    p.add_argument("--slo", action="append", default=[], help='gate, e.g. "p99<50ms", "lost==0"')
    p.add_argument("--processes", type=int, default=0, help="local Locust worker processes")
    p.add_argument("--master", action="store_true", help="be the master of a swarm")
    p.add_argument("--expect-workers", type=int, default=1, help="workers the master waits for")
    p.add_argument("--worker", action="store_true", help="be a worker of a swarm's master")
    p.add_argument("--master-host", default="127.0.0.1", help="the master to join (--worker)")
    p.add_argument("--master-port", type=int, default=5557, help="the master's port")
    # server telemetry and live metrics (issue 15; harness/load/serverwatch.py, exporter.py)
    p.add_argument("--server-pid", type=int, metavar="PID", help="sample this local server")
    p.add_argument("--server-metrics", metavar="URL", help="scrape this Prometheus endpoint")
    p.add_argument(
        "--server-metric",
        action="append",
        default=[],
        metavar="NAME",
        help="a metric to record from --server-metrics (repeatable; default: process_* and "
        "the reference server's)",
    )
    p.add_argument(
        "--server-interval",
        type=validate_value.duration,
        default=1.0,
        help="seconds between server samples (default 1)",
    )
    p.add_argument(
        "--prometheus-port", type=int, metavar="N", help="serve live load metrics on this port"
    )
    load_storm.add_arguments(p)
    p.set_defaults(passthrough=[])  # the arguments after `--`, for Locust (harness.cli)
    return p


def validate(args: argparse.Namespace) -> list[Slo]:
    """UsageError for anything wrong; the parsed SLO gates."""
    if args.locustfile is not None and not args.locustfile.is_file():
        raise UsageError(f"--locustfile {args.locustfile}: no such file")
    if args.worker:
        validate_value.port("--master-port", args.master_port)
        if serverwatch.wanted(args) or args.prometheus_port is not None:
            raise UsageError("server telemetry and --prometheus-port belong to the master")
        load_storm.validate(args)
        return []
    serverwatch.validate(args)
    args.protocol = profiles.load_protocol(args.profile, args.path_template)
    profiles.parse_headers(args.header, "--header")
    load_storm.validate(args)
    if not args.urls and not args.serve:
        raise UsageError("give at least one server URL (ws://HOST:PORT), or --serve")
    for url in args.urls:
        validate_value.ws_url(url)
    if args.users is None or args.users < 1:
        raise UsageError("--users must be at least 1")
    if args.out is None:
        raise UsageError("--out DIR is required")
    validate_value.out_dir("--out", args.out, args.force)
    validate_value.at_least("--rooms", args.rooms, 1)
    for name in ("rate", "duration", "drain", "leave_deadline", "connect_timeout"):
        validate_value.positive(f"--{name.replace('_', '-')}", getattr(args, name))
    validate_value.positive("--churn-interval", args.churn_interval)
    if args.processes < 0 or (args.processes and args.master):
        raise UsageError("--processes N (N >= 1) runs its own master; not with --master")
    if args.master:
        validate_value.at_least("--expect-workers", args.expect_workers, 1)
    if args.master or args.processes:
        validate_value.port("--master-port", args.master_port)
    if not 0 <= args.payload_bytes <= MAX_TEXT_CHARS:
        raise UsageError(f"--payload-bytes must be between 0 and {MAX_TEXT_CHARS} (protocol limit)")
    if args.spawn_rate is not None:
        validate_value.positive("--spawn-rate", args.spawn_rate)
    if args.max_message_bytes < MIN_MESSAGE_BYTES:
        raise UsageError(f"--max-message-bytes must be at least {MIN_MESSAGE_BYTES}")
    Fractions(args.churn, args.slow, args.lurkers)
    _sizes(args)
    return [parse_slo(expr) for expr in args.slo]


def _sizes(args: argparse.Namespace) -> list[int]:
    """Each process's room sizes: one room for everybody when the profile's server has no
    rooms."""
    protocol: ChatProtocol | None = getattr(args, "protocol", None)
    rooms = args.rooms if protocol is None or protocol.rooms else 1
    return process_plan(args.users, rooms, args.room_size, _process_count(args))


def _process_count(args: argparse.Namespace) -> int:
    if args.processes:
        return int(args.processes)
    return int(args.expect_workers) if args.master else 1


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
    sizes = _sizes(args)
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
    slos = validate(args)
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
