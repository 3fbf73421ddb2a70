"""pytest plugin (entry point `pytest11`): `pytest --chat-url ws://...` runs the conformance cases.

One pytest item per clause (`chatbench::join.welcome`), so CI gets pytest's own reports
(`--junitxml`, `-k`, `-x`). A MUST failure fails its item with the expected vs observed text and
the transcript; a SHOULD failure is an xfail (reported, not fatal) unless --chat-strict; a
harness error is an error of the item with the traceback; unjudgeable clauses are skipped with
their reason. Without --chat-url the plugin adds nothing to a test session.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

OPTIONS = ("chat_url", "chat_path_template", "chat_header", "chat_timeout_factor", "chat_strict")


def pytest_addoption(parser: Any) -> None:
    """Register --chat-url and the options that go with it."""
    group = parser.getgroup("chatbench")
    group.addoption(
        "--chat-url",
        action="append",
        default=[],
        help="run chatbench's conformance cases against this server (repeat for several nodes)",
    )
    group.addoption("--chat-path-template", default=None, help="endpoint path template")
    group.addoption("--chat-header", action="append", default=[], help="'Name: value' header")
    group.addoption("--chat-timeout-factor", type=float, default=1.0, help="scale every wait")
    group.addoption("--chat-strict", action="store_true", help="SHOULD failures fail")


def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    """Add one item per conformance case when --chat-url is given."""
    if not config.getoption("chat_url"):
        return
    from harness.check import load_cases

    suite = ConformanceSuite.from_parent(session, name="chatbench")
    items.extend(CaseItem.from_parent(suite, name=case.id, case=case) for case in load_cases())


class ConformanceSuite(pytest.Collector):
    """The parent of the case items (they come from the registry, not from files)."""

    def collect(self) -> list[Any]:
        """Nothing to collect: items are added by pytest_collection_modifyitems."""
        return []


class CaseFailed(Exception):
    """A conformance case failed: its message is expected vs observed and the transcript."""


class CaseItem(pytest.Item):
    """One conformance case as a pytest item."""

    def __init__(self, *, case: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.add_marker(pytest.mark.chatbench)

    def runtest(self) -> None:
        """Run the case against --chat-url and translate its verdict for pytest."""
        from harness.check.output import failure_text
        from harness.check.runner import run_case

        config = _check_config(self.config)
        result = asyncio.run(_probe_then(run_case(self.case, config), config))
        if result.verdict == "skip":
            pytest.skip(result.reason)
        if result.verdict == "error":
            raise CaseFailed(f"harness error (not the server's fault)\n{result.observed}")
        if result.verdict in ("fail", "blocked"):
            if result.level == "SHOULD" and not config.strict:
                pytest.xfail(f"SHOULD clause not met: {result.reason}")
            raise CaseFailed(failure_text(result))
        if result.verdict != "pass":
            raise CaseFailed(f"unknown verdict {result.verdict!r}")

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        """The case's own report instead of a traceback into the harness."""
        if isinstance(excinfo.value, CaseFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int, str]:
        """Where the item comes from, for pytest's headers."""
        return "chatbench", 0, f"{self.case.id} ({self.case.clause.level.value})"


async def _probe_then(coro: Any, config: Any) -> Any:
    from harness.check.runner import probe
    from harness.errors import UnreachableError

    try:
        await probe(config)
    except UnreachableError as exc:
        coro.close()
        raise CaseFailed(f"server unreachable: {exc}") from None
    return await coro


def _check_config(config: Any) -> Any:
    from harness.check import DEFAULT_TEMPLATE, CheckConfig
    from harness.commands.check import parse_header

    return CheckConfig(
        urls=tuple(config.getoption("chat_url")),
        path_template=config.getoption("chat_path_template") or DEFAULT_TEMPLATE,
        headers=tuple(parse_header(h) for h in config.getoption("chat_header")),
        timeout_factor=config.getoption("chat_timeout_factor"),
        strict=config.getoption("chat_strict"),
    )


def pytest_configure(config: Any) -> None:
    """Declare the marker the case items carry (--strict-markers)."""
    config.addinivalue_line("markers", "chatbench: a chatbench conformance case")
