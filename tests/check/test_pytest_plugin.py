"""`pytest --chat-url URL` runs one item per clause, in a separate pytest process."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from harness.protocol import CLAUSES
from tests.check.helpers import FACTOR
from tests.fakes.chat_server import running_fake


def _pytest(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_plugin_runs_one_item_per_clause_and_reports_failures(tmp_path):
    junit = tmp_path / "report.xml"
    with running_fake({"no-echo", "accept-foreign-origin"}) as url:
        proc = _pytest(
            tmp_path,
            "--chat-url",
            url,
            "--chat-timeout-factor",
            str(FACTOR),
            "-m",
            "chatbench",
            "--junitxml",
            str(junit),
            "-k",
            "broadcast or extra or origin or going or endpoint",
        )
    assert proc.returncode == 1, proc.stdout
    cases = {tc.get("name"): tc for tc in ET.parse(junit).getroot().iter("testcase")}
    wanted = (
        "message.broadcast",
        "message.extra-fields",
        "origin.",
        "shutdown.",
        "connect.endpoint",
    )
    assert set(cases) == {c.id for c in CLAUSES if c.id.startswith(wanted)}
    failing = {name for name, tc in cases.items() if tc.find("failure") is not None}
    assert failing == {"message.broadcast"}  # the MUST one; the SHOULD ones are xfail
    text = (
        cases["message.broadcast"].find("failure").get("message")
        + cases["message.broadcast"].find("failure").text
    )
    assert "expected:" in text and "observed:" in text
    assert cases["shutdown.going-away"].find("skipped") is not None
    assert "2 xfailed" in proc.stdout  # SHOULD failures (extra-fields, origin): reported, not fatal


def test_plugin_is_inert_without_chat_url(tmp_path):
    proc = _pytest(tmp_path)
    assert proc.returncode == 5, proc.stdout  # no tests collected
    assert "chatbench" not in proc.stdout


def test_plugin_fails_a_blocked_must_item_naming_its_blocker(tmp_path):
    with running_fake({"no-welcome"}) as url:
        proc = _pytest(
            tmp_path, "--chat-url", url, "--chat-timeout-factor", str(FACTOR), "-k", "announce"
        )
    assert proc.returncode == 1, proc.stdout
    assert "1 error" in proc.stdout and "failed" not in proc.stdout
    assert "blocked by join.welcome" in proc.stdout


_HARNESS_BUG = """
import dataclasses

from harness.check import registry

registry.load_cases()


async def _bug(ctx):
    raise RuntimeError("injected harness bug")


registry._REGISTRY["join.welcome"] = dataclasses.replace(
    registry._REGISTRY["join.welcome"], run=_bug
)
"""


def test_a_harness_error_is_a_pytest_error_not_a_failure(pytester):
    # The conftest swaps one case's function for one that raises a non-ServerViolation.
    pytester.makeconftest(_HARNESS_BUG)
    with running_fake() as url:
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--chat-url", url, "-k", "join.welcome or join.online"
        )
    result.assert_outcomes(passed=1, errors=1, failed=0)  # join.online-count still passes
    result.stdout.fnmatch_lines(["*ERROR at setup of join.welcome*", "*injected harness bug*"])
    result.stdout.fnmatch_lines(["*harness error (not the server's fault)*"])


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--chat-path-template", "/ws/{room}/{nope}"], "unknown placeholder {nope}"),
        (["--chat-timeout-factor", "nan"], "--chat-timeout-factor must be a positive number"),
        (["--chat-header", "no colon"], "--chat-header must look like 'Name: value'"),
    ],
)
def test_wrong_chat_options_are_a_usage_error(pytester, option, message):
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--chat-url", "ws://x", *option
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: chatbench: *{message}*"])


def test_the_plugin_provides_the_reference_url_fixture(pytester):
    # Documented in README: a user's tests get a running reference server from the plugin.
    pytester.makepyfile(
        """
        import json

        from websockets.sync.client import connect


        def test_welcome(reference_url):
            with connect(f"{reference_url}/ws/chat/lobby?username=ada", open_timeout=10) as ws:
                assert json.loads(ws.recv(timeout=10)) == {
                    "type": "welcome", "room": "lobby", "online": 1
                }
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_an_unreachable_server_is_one_line_and_no_items(tmp_path):
    proc = _pytest(tmp_path, "--chat-url", "ws://127.0.0.1:1")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot reach ws://127.0.0.1:1" in lines[0], lines


def test_items_are_collected_with_clean_ids_and_honest_counts(tmp_path):
    with running_fake() as url:
        proc = _pytest(tmp_path, "--chat-url", url, "--collect-only", "-k", "leave")
    out = proc.stdout
    selected = len([c for c in CLAUSES if "leave" in c.id])
    assert (
        f"{selected}/{len(CLAUSES)} tests collected ({len(CLAUSES) - selected} deselected)" in out
    )
    assert "chatbench::leave.clean" in out and "::chatbench::" not in out
