"""`chatbench demo`: start the in-memory reference server and show what chatbench does."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from harness.demo.conversation import play
from harness.demo.steps import plan, run_step
from harness.errors import UsageError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="reference server + conversation + check + load run + report",
        description="Start the reference server in memory (no Redis), play a scripted "
        "conversation showing every event, run the conformance check and a short load run "
        "with churn, and write an HTML report; prints where it is.",
    )
    p.add_argument("--out", type=Path, default=Path("chatbench-out"), help="where to write")
    p.add_argument("--duration", type=int, default=20, help="load run seconds (default 20)")
    p.add_argument("--users", type=int, default=40, help="load run users (default 40)")
    p.add_argument("--conversation-only", action="store_true", help="only the scripted chat")
    return p


def run(args: argparse.Namespace) -> int:
    """Run every step against one embedded reference server; 0 when all went as expected."""
    from reference_server.embedded import running_server

    if args.duration < 1 or args.users < 2:
        raise UsageError("--duration must be >= 1 and --users >= 2")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {args.out}: cannot create the directory: {exc.strerror}") from None
    with running_server() as url:
        print(f"reference server (in memory) listening at {url}/ws/chat/{{room}}?username=NAME")
        print("\n== a scripted conversation, every frame shown")
        asyncio.run(play(url))
        if args.conversation_only:
            return 0
        failed = [
            step.title
            for step in plan(url, args.out, args.duration, args.users)
            if run_step(step, timeout=args.duration + 120) not in step.ok_codes
        ]
    return _summary(args.out, failed)


def _summary(out: Path, failed: list[str]) -> int:
    """Say where everything is, and which steps did not pass."""
    print(f"\nreport: {out / 'report' / 'index.html'}")
    print(f"conformance report: {out / 'check-report' / 'index.html'}")
    for title in failed:
        print(f"step failed: {title}")
    return 1 if failed else 0
