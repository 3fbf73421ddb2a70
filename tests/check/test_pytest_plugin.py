"""`pytest --chat-url URL` runs one item per clause, in a separate pytest process."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

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
    assert "1 failed" in proc.stdout and "blocked by join.welcome" in proc.stdout
