"""chatbench: conformance checks, load tests and reports for WebSocket chat servers.

  chatbench check ws://HOST:PORT             judge a server clause by clause (exit 0/1)
  chatbench load ws://HOST:PORT --users 100 --out run1   fan-out latency, delivery ledger
  chatbench locust --host ws://HOST:PORT     Locust's web UI with chatbench's users
  chatbench report run1                      charts, HTML and Markdown of a run
  chatbench profile check my.toml ws://...   describe a server that does not speak v1
  chatbench serve                            the reference chat server
  chatbench demo                             all of the above on an in-memory server

Exit codes: 0 ok, 1 the server broke a clause or missed a gate, 2 a usage error or an
unreachable server, 3 a bug in chatbench, 130/143 a run stopped by Ctrl-C (SIGINT) or
SIGTERM. `chatbench COMMAND --help` for each command.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import traceback
from collections.abc import Sequence

from harness import __version__, config
from harness.errors import Interrupted, UnreachableError, UsageError

# Each module harness.commands.NAME defines `add_parser(subparsers)` and `run(args) -> int`.
COMMANDS = ("schema", "serve", "check", "load", "locust", "report", "profile", "demo")


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a one-line message on usage errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(
        prog="chatbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"chatbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    parser.commands = {}  # type: ignore[attr-defined]
    for name in COMMANDS:
        module = importlib.import_module(f"harness.commands.{name}")
        command = module.add_parser(sub)
        command.set_defaults(_run=module.run)
        parser.commands[name] = command  # type: ignore[attr-defined]
    return parser


def _configure(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Defaults of the invoked command from chatbench.toml and CHATBENCH_* (harness.config)."""
    name = next((a for a in argv if not a.startswith("-")), None)
    if name in config.COMMANDS:
        config.apply(parser.commands[name], name)  # type: ignore[attr-defined]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code.

    0/1 are the command's verdict; 2 a user's mistake (one line, no traceback); 3 a bug in
    chatbench itself (one line saying so, then the traceback), never blamed on the server.
    """
    try:
        parser = build_parser()
    except Exception as exc:
        return _harness_error("chatbench", exc)
    args_list = sys.argv[1:] if argv is None else list(argv)
    if not args_list:
        parser.print_help()  # bare `chatbench`: what it can do, not an error about a command
        return 2
    try:
        _configure(parser, args_list)
    except UsageError as exc:
        name = next((a for a in args_list if not a.startswith("-")), "")
        print(f"chatbench {name}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    args_list, passthrough = _split_passthrough(parser, args_list)
    try:
        args, extra = parser.parse_known_args(args_list)
    except SystemExit as exc:  # argparse: --help, --version, or a usage error it printed
        return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 2
    prog = f"chatbench {args.command}"
    if extra and not getattr(args, "_unknown_to_passthrough", False):
        # argparse would blame the top-level parser; name the subcommand
        print(f"{prog}: error: unrecognized arguments: {' '.join(extra)}", file=sys.stderr)
        return 2
    if hasattr(args, "passthrough"):
        args.passthrough = [*extra, *passthrough]
    try:
        return int(args._run(args))
    except (UsageError, UnreachableError) as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Interrupted as exc:
        print(f"{prog}: stopped by {signal.Signals(exc.signum).name}", file=sys.stderr)
        return 128 + exc.signum
    except Exception as exc:
        return _harness_error(prog, exc)


def _split_passthrough(
    parser: argparse.ArgumentParser, argv: list[str]
) -> tuple[list[str], list[str]]:
    """chatbench's arguments, and those after the first `--` for a command that passes them
    on (`load`, `locust`: to Locust); for the others `--` keeps its argparse meaning."""
    name = next((a for a in argv if not a.startswith("-")), None)
    command = parser.commands.get(name)  # type: ignore[attr-defined]
    if "--" not in argv or command is None or command.get_default("passthrough") is None:
        return argv, []
    at = argv.index("--")
    return argv[:at], argv[at + 1 :]


def _one_line(exc: BaseException) -> str:
    """The exception's message on one line (a multi-line message would break the contract)."""
    return " / ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def _harness_error(prog: str, exc: Exception) -> int:
    """A bug in chatbench: say so in one line, then the traceback for the bug report."""
    print(
        f"{prog}: harness error (not the server's fault): {type(exc).__name__}: {_one_line(exc)}",
        file=sys.stderr,
    )
    traceback.print_exception(exc, file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
