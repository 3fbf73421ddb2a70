"""The files and the table: JUnit CI can read, JSON that is CheckResults, HTML, --list."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.check import load_cases
from harness.cli import main
from harness.protocol import CLAUSES
from harness.results import CheckResults
from reports.conformance import render_check_html
from tests.check.helpers import FACTOR
from tests.fakes.chat_server import running_fake


def _run(tmp_path, *args):
    files = {k: tmp_path / f"out.{k}" for k in ("json", "xml", "html")}
    with running_fake({"alter-text", "accept-foreign-origin"}) as url:
        rc = main(
            [
                "check",
                url,
                "--timeout-factor",
                str(FACTOR),
                "--json",
                str(files["json"]),
                "--junit",
                str(files["xml"]),
                "--html",
                str(files["html"]),
                *args,
            ]
        )
    return rc, files


def test_junit_json_and_html_of_a_failing_run(tmp_path, capsys):
    rc, files = _run(tmp_path, "--only", "message.*", "--only", "origin.*", "--only", "shutdown.*")
    table = capsys.readouterr().out
    assert rc == 1
    assert "message.roundtrip" in table and "FAIL" in table and "exit 1" in table
    results = CheckResults.model_validate_json(files["json"].read_text())
    assert results.exit_code == 1 and results.summary.failed == 2
    suite = ET.parse(files["xml"]).getroot().find("testsuite")
    cases = {tc.get("name"): tc for tc in suite.iter("testcase")}
    assert list(cases) == [c.id for c in results.cases]  # one testcase per clause
    failure = cases["message.roundtrip"].find("failure")
    assert failure is not None and "expected:" in failure.text and "observed:" in failure.text
    assert "transcript:" in failure.text and " send " in failure.text
    # a SHOULD failure without --strict is reported, not counted: JUnit agrees with exit 0/1
    assert cases["origin.foreign"].find("failure") is None
    assert "SHOULD not met" in cases["origin.foreign"].find("skipped").get("message")
    assert cases["shutdown.going-away"].find("skipped") is not None
    assert suite.get("failures") == "1" and suite.get("tests") == str(len(cases))
    html = files["html"].read_text()
    assert (
        html.startswith("<!doctype html>") and "message.roundtrip" in html and "<script" not in html
    )


def test_strict_turns_should_failures_into_junit_failures(tmp_path):
    rc, files = _run(tmp_path, "--only", "origin.foreign", "--strict")
    assert rc == 1
    testcase = ET.parse(files["xml"]).getroot().find("testsuite/testcase")
    assert testcase.find("failure").get("type") == "SHOULD"


def test_html_escapes_hostile_frames():
    doc = CheckResults.model_validate(
        {
            "urls": ["ws://x"],
            "started": "t",
            "duration_s": 1,
            "exit_code": 1,
            "summary": {"failed": 1},
            "cases": [
                {
                    "id": "username.no-html",
                    "level": "MUST",
                    "section": "2",
                    "title": "t",
                    "verdict": "fail",
                    "reason": "<script>alert(1)</script>",
                    "transcript": [
                        {"t": 0, "client": "c1", "dir": "recv", "data": "<img onerror=x>"}
                    ],
                }
            ],
        }
    )
    html = render_check_html(doc)
    assert "<script>alert" not in html and "&lt;img onerror=x&gt;" in html


def test_list_prints_every_case(capsys):
    assert main(["check", "--list"]) == 0
    out = capsys.readouterr().out
    for clause in CLAUSES:
        assert clause.id in out
    assert [c.id for c in load_cases()] == [c.id for c in CLAUSES]


def test_only_and_exclude_globs(capsys):
    assert main(["check", "--list", "--only", "input.*", "--exclude", "input.error-event"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1::2]]
    assert listed == ["input.not-json", "input.not-object", "input.bad-text", "input.binary"]


def test_docs_list_every_case():
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "conformance.md").read_text()
    for clause in CLAUSES:
        assert f"| `{clause.id}` | {clause.level.value} |" in doc


def test_ci_example_runs_check_and_uploads_junit():
    from pathlib import Path

    workflow = (Path(__file__).parents[2] / "docs" / "ci-example.yml").read_text()
    assert 'chatbench check "ws://127.0.0.1:$PORT"' in workflow and "--junit report.xml" in workflow
    assert "actions/upload-artifact" in workflow and "report.xml" in workflow
    assert "\t" not in workflow  # YAML forbids tabs


def test_long_texts_are_cut_in_junit_and_html_and_whole_in_json(tmp_path):
    """A failing roundtrip carries 8 KB texts: JUnit and HTML stay small, JSON keeps them."""
    rc, files = _run(tmp_path, "--only", "message.roundtrip")
    assert rc == 1
    results = CheckResults.model_validate_json(files["json"].read_text())
    (case,) = results.cases
    assert max(len(case.expected), len(case.observed)) > 8192  # all of it, in the JSON
    junit = files["xml"].read_text()
    assert "characters in all; the whole text is in --json" in junit
    assert len(junit) < 60_000 and len(files["html"].read_text()) < 80_000


def test_ci_example_steps_run_as_written(tmp_path):
    """The workflow's own shell steps, run here: start the server, check it, files written."""
    import contextlib
    import os
    import shlex
    import signal
    import socket
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    workflow = yaml.safe_load((Path(__file__).parents[2] / "docs" / "ci-example.yml").read_text())
    steps = {s.get("name"): s.get("run") for s in workflow["jobs"]["conformance"]["steps"]}
    assert steps["Install chatbench"] == "pip install ."  # from the checkout, no placeholder
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    env = {
        **os.environ,
        "PORT": port,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    # each step is its own shell, as in Actions; the server stays in the background
    script = (
        f"bash -c {shlex.quote(steps['Start the server under test'])} && "
        f"bash -c {shlex.quote(steps['chatbench check'])}"
    )
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=90)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the background server
    assert proc.returncode == 0, out
    for name in ("report.xml", "check.json", "check.html"):
        assert (tmp_path / name).stat().st_size > 0
