"""The options of `chatbench load` and their checks (harness.commands.load runs the command).

Every check raises UsageError with one line (exit 2) before anything starts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import validate as validate_value
from harness.commands import load_storm
from harness.errors import UsageError
from harness.load import profiles, serverwatch
from harness.load.frames import MAX_MESSAGE_BYTES, MIN_MESSAGE_BYTES
from harness.load.plan import Fractions, process_plan
from harness.load.slo import Slo, parse_slo
from harness.profile import ChatProtocol
from harness.protocol import MAX_TEXT_CHARS


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Every option of the subcommand, the storm's among them (load_storm)."""
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
    sizes(args)
    return [parse_slo(expr) for expr in args.slo]


def sizes(args: argparse.Namespace) -> list[int]:
    """Each process's room sizes: one room for everybody when the profile's server has no
    rooms."""
    protocol: ChatProtocol | None = getattr(args, "protocol", None)
    rooms = args.rooms if protocol is None or protocol.rooms else 1
    return process_plan(args.users, rooms, args.room_size, process_count(args))


def process_count(args: argparse.Namespace) -> int:
    """Locust processes that run users: the local workers, the expected ones, or this one."""
    if args.processes:
        return int(args.processes)
    return int(args.expect_workers) if args.master else 1
