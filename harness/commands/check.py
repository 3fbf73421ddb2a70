"""`chatbench check URL [URL ...]`: judge a chat server clause by clause, through its profile.

The profile (--profile, protocol v1 by default) says how the server speaks; clauses it does
not claim (no welcome, one room, no echo) are n/a, never failed.

Exit codes: 0 every MUST case passed (and every SHOULD with --strict); 1 a counted case failed;
2 the server cannot be reached at all, or the arguments are wrong; 3 the harness itself erred
(and nothing counted failed): a harness error is never reported as the server's failure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import validate
from harness.check import DEFAULT_TEMPLATE, CheckConfig, load_cases, select
from harness.check.context import check_template
from harness.check.output import Progress, write_json, write_junit
from harness.check.registry import Case
from harness.check.runner import probe, run_cases, summarize
from harness.errors import UsageError
from harness.profile import DEFAULT as DEFAULT_PROFILE
from harness.profile import load_profile
from harness.results import CheckResults

DEFAULT_DEADLINE = 100.0
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 5.1: a field name is a token
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the subcommand and its options."""
    p: argparse.ArgumentParser = sub.add_parser(
        "check",
        help="check a chat server clause by clause (protocol v1, or through --profile)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "urls",
        nargs="*",
        metavar="URL",
        help="ws:// or wss:// base URL (several: clients spread round-robin)",
    )
    p.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        metavar="NAME|FILE",
        help="how the server speaks: a built-in profile (v1, fastapi-docs, socketio; see "
        f"`chatbench profile list`) or a TOML file (default {DEFAULT_PROFILE})",
    )
    p.add_argument(
        "--path-template",
        default=None,
        help=f"endpoint path, overriding the profile's connect.url (v1: {DEFAULT_TEMPLATE})",
    )
    p.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra handshake header (auth, Origin); repeatable",
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GLOB",
        help="run only cases whose clause id matches (e.g. 'input.*'); repeatable",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip cases whose clause id matches; repeatable",
    )
    p.add_argument("--strict", action="store_true", help="SHOULD failures fail the run too")
    p.add_argument("--list", action="store_true", help="print the cases and exit")
    p.add_argument(
        "--timeout-factor",
        type=float,
        default=None,
        help="scale every wait (default 1: about 2 s per expected event; "
        "env CHATBENCH_TIMEOUT_FACTOR)",
    )
    p.add_argument(
        "--deadline",
        type=float,
        default=DEFAULT_DEADLINE,
        help=f"seconds for the whole suite (default {DEFAULT_DEADLINE:.0f})",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="cases run at once (default 8; timing-sensitive cases always run alone)",
    )
    p.add_argument(
        "--json", type=Path, metavar="FILE", help="write the results as JSON (chatbench.check/1)"
    )
    p.add_argument(
        "--junit", type=Path, metavar="FILE", help="write JUnit XML, one testcase per clause"
    )
    p.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML report")
    return p


def _timeout_factor(given: float | None) -> float:
    """--timeout-factor, else CHATBENCH_TIMEOUT_FACTOR, else 1."""
    if given is not None:
        return validate.positive("--timeout-factor", given)
    raw = os.environ.get("CHATBENCH_TIMEOUT_FACTOR", "1")
    try:
        return validate.positive("CHATBENCH_TIMEOUT_FACTOR", float(raw))
    except ValueError:
        raise UsageError(f"CHATBENCH_TIMEOUT_FACTOR={raw!r} is not a number") from None


def config_from(args: argparse.Namespace) -> CheckConfig:
    """Validate the arguments into a CheckConfig; UsageError on anything wrong."""
    if not args.urls:
        raise UsageError("give at least one server URL, e.g. ws://127.0.0.1:8000")
    for url in args.urls:
        validate.ws_url(url)
    if args.path_template is not None:
        check_template(args.path_template)
    protocol = load_profile(args.profile)
    for out in (args.json, args.junit, args.html):
        if out is not None:
            _writable(out)
    timeout_factor = _timeout_factor(args.timeout_factor)
    validate.positive("--deadline", args.deadline)
    validate.at_least("--concurrency", args.concurrency, 1)
    return CheckConfig(
        urls=tuple(args.urls),
        path_template=args.path_template,
        headers=tuple(parse_header(h) for h in args.header),
        timeout_factor=timeout_factor,
        strict=args.strict,
        deadline=args.deadline,
        concurrency=args.concurrency,
        protocol=protocol,
    )


def _writable(out: Path) -> None:
    """UsageError now, not after the whole run, when `out` cannot be written."""
    if out.is_dir():
        raise UsageError(f"cannot write {out}: it is a directory")
    if not out.resolve().parent.is_dir():
        raise UsageError(f"cannot write {out}: no directory {out.parent}")


def parse_header(text: str, option: str = "--header") -> tuple[str, str]:
    """`Name: value` -> (name, value); UsageError naming `option` when it is not a header."""
    name, sep, value = text.partition(":")
    if not sep or not _TOKEN.fullmatch(name.strip()):
        raise UsageError(f"{option} must look like 'Name: value', got {text!r}")
    if _CONTROL.search(value):  # RFC 9110 5.5: a field value holds no CR, LF or NUL
        raise UsageError(f"{option} {name.strip()}: control character in the value {value!r}")
    return name.strip(), value.strip()


def _globs(values: list[str]) -> list[str]:
    return [g.strip() for v in values for g in v.split(",") if g.strip()]


def list_cases(cases: list[Case]) -> str:
    """One line per case: clause id, level, section and what it checks."""
    lines = [f"{'clause':<22} {'level':<6} sec  title / what it sends"]
    for c in cases:
        lines.append(f"{c.id:<22} {c.clause.level.value:<6} {c.clause.section:<4} {c.clause.title}")
        lines.append(f"{'':<34}sends: {c.skip or c.sends}")
    return "\n".join(lines)


def write_outputs(results: CheckResults, args: argparse.Namespace) -> None:
    """The --json, --junit and --html files that were asked for."""
    try:
        if args.json:
            write_json(results, args.json)
        if args.junit:
            write_junit(results, args.junit)
        if args.html:
            from reports.conformance import render_check_html

            args.html.write_text(render_check_html(results), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {exc.filename}: {exc.strerror}") from None


def run(args: argparse.Namespace) -> int:
    """Run the selected cases and report; returns the exit code."""
    cases = select(load_cases(), _globs(args.only), _globs(args.exclude))
    if args.list:
        print(list_cases(cases))
        return 0
    config = config_from(args)
    if all(c.run is None for c in cases):  # an empty run is never green
        raise UsageError(
            f"nothing to judge: {', '.join(c.id for c in cases)} cannot be checked remotely"
        )
    results = asyncio.run(_streamed(cases, config))
    write_outputs(results, args)
    sys.stdout.flush()
    return results.exit_code


async def _streamed(cases: list[Case], config: CheckConfig) -> CheckResults:
    """Probe, then run the cases printing each row as its turn comes, then the summary."""
    started, t0 = datetime.now(UTC), time.monotonic()
    await probe(config)
    progress = Progress([c.id for c in cases], config.strict, _say)
    results = await run_cases(cases, config, progress.finished)
    document = summarize(results, config, started, time.monotonic() - t0)
    progress.end(document)
    return document


def _say(line: str) -> None:
    print(line, flush=True)
