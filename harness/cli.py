"""The `chatbench` command: one subcommand per module in harness.commands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from harness import __version__
from harness.errors import UnreachableError, UsageError

# Each module harness.commands.NAME defines `add_parser(subparsers)` and `run(args) -> int`.
COMMANDS = ("schema", "serve", "check", "load", "report", "demo")


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a one-line message on usage errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="chatbench", description=__doc__)
    parser.add_argument("--version", action="version", version=f"chatbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"harness.commands.{name}")
        module.add_parser(sub).set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args))
    except (UsageError, UnreachableError) as exc:
        print(f"chatbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"chatbench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
