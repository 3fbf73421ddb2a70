"""`chatbench load`'s connection-scale flags: the reconnect storm, --serve, source addresses.

Argument handling only (docs/load.md "The reconnect storm", "Source addresses"); the storm
itself runs in the Locust processes (harness.load.storm, harness.load.users).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from harness import validate as validate_value
from harness.errors import UsageError
from harness.load import sources
from harness.load.storm import BACKOFF_BASE_S, BACKOFF_CAP_S


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Connection scale and the reconnect storm (docs/load.md "The reconnect storm")."""
    add = p.add_argument
    add("--serve", action="store_true", help="serve the in-memory reference server and load it")
    add("--storm-at", type=validate_value.duration, help="drop every connection at T s")
    add("--restart-at", type=validate_value.duration, help="restart the --serve server at T s")
    add(
        "--backoff-base",
        type=validate_value.duration,
        default=BACKOFF_BASE_S,
        help="storm "
        f"reconnect: attempt n waits up to min(cap, base * 2**n) s (default {BACKOFF_BASE_S})",
    )
    add(
        "--backoff-cap",
        type=validate_value.duration,
        default=BACKOFF_CAP_S,
        help=f"that ceiling (default {BACKOFF_CAP_S})",
    )
    add("--source-addresses", metavar="A-B,C", help="local addresses to connect from, in turn")


def validate(args: argparse.Namespace) -> None:
    """UsageError (one line) for a wrong storm, --serve or --source-addresses."""
    if args.storm_at is not None and args.restart_at is not None:
        raise UsageError("--storm-at and --restart-at: one storm per run")
    if args.restart_at is not None and not args.serve:
        raise UsageError("--restart-at restarts the server of --serve (any server: --storm-at)")
    if args.serve and (args.urls or args.master or args.worker):
        raise UsageError("--serve loads its own loopback server: no URL, --master or --worker")
    at = args.storm_at if args.storm_at is not None else args.restart_at
    if at is not None and not (0 < at < args.duration):
        raise UsageError(
            f"--storm-at/--restart-at {at:g}: must fall in the send phase (0 < T < "
            f"--duration {args.duration:g})"
        )
    validate_value.positive("--backoff-base", args.backoff_base)
    if args.backoff_cap < args.backoff_base:
        raise UsageError("--backoff-cap must be at least --backoff-base")
    if args.source_addresses is not None:
        found = sources.parse_addresses(args.source_addresses)
        if not args.master:  # a swarm's workers check their own machines' addresses
            sources.check_local(found)
        args.source_list = found


def locust_options(args: argparse.Namespace) -> dict[str, Any]:
    """The --cb-* options of the storm and the source addresses."""
    found = {
        "storm-at": args.storm_at or 0,
        "restart-at": args.restart_at or 0,
        "backoff-base": args.backoff_base,
        "backoff-cap": args.backoff_cap,
        "source-addresses": args.source_addresses or "",
    }
    if args.restart_at:
        found["restart-pid"] = os.getpid()
    return found


def config(args: argparse.Namespace) -> dict[str, Any]:
    """What results.json's `config` records of them."""
    at = args.storm_at or args.restart_at
    storm = {
        "at_s": at,
        "cause": "restart" if args.restart_at else "drop",
        "backoff_base_s": args.backoff_base,
        "backoff_cap_s": args.backoff_cap,
    }
    return {
        "storm": storm if at else None,
        "served": bool(args.serve),
        "source_addresses": len(getattr(args, "source_list", []) or []),
    }
