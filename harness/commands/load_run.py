"""The files and messages of a `chatbench load` run: --out prepared, results.json written
whole, the one-line errors of a run without results. No locust, no gevent."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from harness.errors import UnreachableError, UsageError
from harness.load import child

LOCUST_LOG = "locust.log"
"""Locust's own log in --out (unless --verbose shows it on the console)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for the local workers' master)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def path_hint(url: str) -> str:
    """A hint when the base URL has a path of its own (the profile's path is appended)."""
    path = urllib.parse.urlsplit(url).path.rstrip("/")
    if not path:
        return ""
    return (
        f" (the URL's path {path} comes before the profile's: give the base URL ws://HOST:PORT, "
        "or the whole path with --path-template or a --profile)"
    )


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` whole (a signal meanwhile leaves the child's results, never half)."""
    part = path.with_name(path.name + ".part")
    part.write_bytes(data)
    part.replace(path)


def stopped(outcome: child.Outcome) -> str:
    """`stopped by SIGTERM (exit 143)`."""
    return f"stopped by {signal.Signals(outcome.signum).name} (exit {outcome.exit_code})"


def say(line: str) -> None:
    """A line of chatbench's own on stderr (the console, whatever --verbose says)."""
    print(f"[chatbench] {line}", file=sys.stderr, flush=True)


def prepare_out(out: Path) -> Path:
    """Create --out; remove an earlier run's results and Locust log (--force); results.json."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in ("results.json", LOCUST_LOG):
            (out / name).unlink(missing_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: {exc.strerror or exc}") from None
    return out / "results.json"


def no_results(args: argparse.Namespace, outcome: child.Outcome) -> Exception:
    """The error for a run that wrote no results.json (Locust's log shows why)."""
    log = args.out / LOCUST_LOG
    where = f"{log} and the output above" if log.exists() else "the Locust output above"
    if args.locustfile:
        return UsageError(
            f"the load run wrote no results (Locust exited {outcome.code}; see {where}); does "
            f"--locustfile {args.locustfile} import its users from harness.load.users?"
        )
    return UnreachableError(
        f"the load run wrote no results (Locust exited {outcome.code}; see {where})"
    )


def check_users_ran(args: argparse.Namespace, doc: dict[str, Any]) -> None:
    """UnreachableError when no connection got through; UsageError when no user of a
    --locustfile was chatbench's."""
    connections = doc["connections"]
    if connections["errors"] and not connections.get("opened"):
        first = (connections["first_errors"] or ["?"])[0]
        raise UnreachableError(f"no connection got through: {first}")
    if args.locustfile and not connections["errors"] and not connections.get("opened"):
        raise UsageError(
            f"--locustfile {args.locustfile}: no chatbench user ran (its users must subclass "
            "harness.load.users classes: ChatterUser, LurkerUser, MixedChatUser, ...)"
        )
