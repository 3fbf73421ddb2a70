"""pytest plugin (entry point `pytest11`): `pytest --chat-url ws://...` runs the conformance cases.

One pytest item per clause (`chatbench::join.welcome`), so CI gets pytest's own reports
(`--junitxml`, `-k`, `-x`). A MUST failure fails its item with the expected vs observed text and
the transcript; a SHOULD failure is an xfail (reported, not fatal) unless --chat-strict; a
harness error, a server that cannot be reached at all, or a MUST case blocked by another clause
(no welcome) is an error of the item (pytest's E, not F: the case ran in the item's setup, and a
failure there is never the clause's); unjudgeable
clauses are skipped with their reason. Wrong --chat-* options stop the session with a usage error.

Without --chat-url the plugin adds no items; it always provides the `reference_url` fixture.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

OPTIONS = (
    "chat_url",
    "chat_path_template",
    "chat_header",
    "chat_timeout_factor",
    "chat_strict",
    "chat_profile",
)


def pytest_addoption(parser: Any) -> None:
    """Register --chat-url and the options that go with it."""
    group = parser.getgroup("chatbench")
    group.addoption(
        "--chat-url",
        action="append",
        default=[],
        help="run chatbench's conformance cases against this server (repeat for several nodes)",
    )
    group.addoption(
        "--chat-profile",
        default=None,
        help="the server's protocol profile: a built-in name or a TOML file (default v1)",
    )
    group.addoption("--chat-path-template", default=None, help="endpoint path template")
    group.addoption("--chat-header", action="append", default=[], help="'Name: value' header")
    group.addoption("--chat-timeout-factor", type=float, default=1.0, help="scale every wait")
    group.addoption("--chat-strict", action="store_true", help="SHOULD failures fail")


@pytest.hookimpl(tryfirst=True)  # before -k and -m deselect: they must see our items
def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    """Collect the conformance suite (one item per case) when --chat-url is given.

    The suite is collected as pytest collects any node, so its collect report reaches the
    terminal ("collected 30 items") and -k / -m count it; node ids read `chatbench::CLAUSE`.
    """
    if not config.getoption("chat_url"):
        return
    from _pytest.runner import collect_one_node

    suite = ConformanceSuite.from_parent(session, name="chatbench", nodeid="chatbench")
    report = collect_one_node(suite)
    session.ihook.pytest_collectreport(report=report)
    items.extend(report.result)


class ConformanceSuite(pytest.Collector):
    """The conformance cases, from the registry rather than from files."""

    def collect(self) -> list[Any]:
        """One item per case of the spec."""
        from harness.check import load_cases

        return [CaseItem.from_parent(self, name=case.id, case=case) for case in load_cases()]


class CaseFailed(Exception):
    """A conformance case failed: its message is expected vs observed and the transcript."""


class CaseNotJudged(Exception):
    """The case could not judge the server (a harness error, an unreachable server)."""


class CaseItem(pytest.Item):
    """One conformance case as a pytest item: run in setup, judged in the test phase."""

    def __init__(self, *, case: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.result: Any = None
        self.add_marker(pytest.mark.chatbench)

    def setup(self) -> None:
        """Run the case; a verdict that is not the server's (harness error) is a setup error."""
        from harness.check.runner import run_case

        config = _check_config(self.config)
        try:
            self.result = asyncio.run(_probe_then(run_case(self.case, config), config))
        except CaseNotJudged as exc:
            pytest.fail(str(exc), pytrace=False)  # in setup: pytest's E, with our text only
        r = self.result
        strict = bool(self.config.getoption("chat_strict"))
        counted_block = r.verdict == "blocked" and (r.level == "MUST" or strict)
        if r.verdict not in ("pass", "fail", "skip", "n/a", "blocked") or counted_block:
            # not judged: a harness error, or blocked by another clause (named in the reason)
            pytest.fail(
                f"not judged ({r.verdict}): {r.reason}\n{r.observed}".strip(), pytrace=False
            )

    def runtest(self) -> None:
        """Translate the case's verdict for pytest."""
        from harness.check.output import failure_text

        result = self.result
        if result.verdict in ("skip", "n/a"):
            pytest.skip(result.reason)
        if result.verdict in ("fail", "blocked"):
            if result.level == "SHOULD" and not self.config.getoption("chat_strict"):
                pytest.xfail(f"SHOULD clause not met ({result.verdict}): {result.reason}")
            raise CaseFailed(failure_text(result))

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
        raise CaseNotJudged(f"server unreachable: {exc}") from None
    return await coro


def _check_config(config: Any) -> Any:
    """The CheckConfig of the --chat-* options; pytest.UsageError when one is wrong."""
    from harness import validate
    from harness.check import CheckConfig
    from harness.commands.check import parse_header
    from harness.errors import UsageError
    from harness.profile import DEFAULT, load_profile

    try:
        return CheckConfig(
            urls=tuple(validate.ws_url(u) for u in config.getoption("chat_url")),
            path_template=_template(config.getoption("chat_path_template")),
            protocol=load_profile(config.getoption("chat_profile") or DEFAULT),
            headers=tuple(
                parse_header(h, "--chat-header") for h in config.getoption("chat_header")
            ),
            timeout_factor=validate.positive(
                "--chat-timeout-factor", config.getoption("chat_timeout_factor")
            ),
            strict=config.getoption("chat_strict"),
        )
    except UsageError as exc:
        raise pytest.UsageError(f"chatbench: {exc}") from None


def _template(given: str | None) -> str | None:
    from harness.check.context import check_template

    return None if given is None else check_template(given, "--chat-path-template")


def pytest_configure(config: Any) -> None:
    """Declare the marker the case items carry (--strict-markers); check the --chat-* options."""
    config.addinivalue_line("markers", "chatbench: a chatbench conformance case")
    if config.getoption("chat_url"):
        _reachable(_check_config(config))


def _reachable(check_config: Any) -> None:
    """One line and stop when the server cannot be reached at all, as the CLI does."""
    from harness.check.runner import probe
    from harness.errors import UnreachableError, UsageError

    try:
        asyncio.run(probe(check_config))
    except (UnreachableError, UsageError) as exc:
        raise pytest.UsageError(f"chatbench: {exc}") from None


@pytest.fixture
def reference_url() -> Iterator[str]:
    """Base URL (ws://127.0.0.1:PORT) of chatbench's reference server, running for this test.

    The in-memory reference server (protocol v1) on an ephemeral loopback port, stopped after
    the test: `f"{reference_url}/ws/chat/{room}?username=NAME"` is a chat endpoint.
    """
    from reference_server.embedded import running_server

    with running_server() as url:
        yield url
