"""`chatbench locust [LOCUST ARGS]`: Locust with chatbench's users, web UI included.

Runs `python -m locust -f scenarios/locustfile.py LOCUST ARGS` from the installed package
(an installed chatbench has no scenarios/ directory to point `locust -f` at). Every argument
goes to Locust as it is: `--host`, `-u`, `--headless`, `--web-port`, the `--cb-*` options
(`chatbench locust --help` lists them under "chatbench"); a later `-f FILE` runs your own
locustfile instead. The process becomes Locust (exec), so signals and the exit code are
Locust's own.

  chatbench locust --host ws://127.0.0.1:8000 --cb-rate 2 --cb-out run1
  then open http://127.0.0.1:8089, set the users, press Start
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from harness.commands.load import locustfile

_HELP = (
    "import scenarios.locustfile\n"  # registers the --cb-* options on Locust's parser
    "from locust.argument_parser import get_parser\n"
    "get_parser().print_help()\n"
)
"""Locust prints `--help` before it loads a locustfile (so without the --cb-* options);
this prints the parser with them."""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the subcommand: every argument after `locust` is Locust's."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "locust",
        help="Locust with chatbench's users and its web UI (arguments go to Locust)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,  # --help is Locust's, with the --cb-* options
        prefix_chars="\0",  # nothing is an option of ours: `-u 5` is Locust's
    )
    parser.set_defaults(passthrough=[], _unknown_to_passthrough=True)
    parser.add_argument("locust_args", nargs="*", help=argparse.SUPPRESS)
    return parser


def argv(args: list[str]) -> list[str]:
    """The Locust command line for `chatbench locust ARGS`."""
    if any(a in ("-h", "--help") for a in args):
        return [sys.executable, "-c", _HELP]
    return [sys.executable, "-m", "locust", "-f", locustfile(), *args]


def run(args: argparse.Namespace) -> int:
    """Become Locust (never returns)."""
    command = argv([*args.locust_args, *args.passthrough])
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)
    return 3  # unreachable: execv replaced this process  # pragma: no cover
