"""The `chatbench` console entry point: exit 2 with one line for a user's mistake, 3 for a bug."""

import json
import subprocess
import sys

import pytest

import harness.commands.schema
from harness.cli import main

CLOSED = "ws://127.0.0.1:1"  # never reached: every case below must stop at validation
LOAD = ["load", CLOSED, "--users", "2", "--out", "out"]
TEMPLATE = ["check", CLOSED, "--path-template"]

# (argv, a piece of the message that names the mistake), for every subcommand
MISTAKES = [
    (["check", "ws://[::1"], "not a valid URL: 'ws://[::1' (Invalid IPv6 URL)"),
    (["check", "ws://"], "not a ws:// or wss:// URL: 'ws://'"),
    (["check", "ws://host:99999"], "Port out of range"),
    (["check", "ws://host:port"], "not a valid URL"),
    (["check", "ftp://host"], "not a ws:// or wss:// URL"),
    (["check", "ws://host:8000?token=1"], "without ?query"),
    (["check"], "give at least one server URL"),
    ([*TEMPLATE, "/ws/{}"], "a brace that is not a placeholder"),
    ([*TEMPLATE, "/ws/{room}/{nope}"], "unknown placeholder {nope}"),
    ([*TEMPLATE, "/ws/{room}?u={0}"], "a brace that is not a placeholder"),
    ([*TEMPLATE, "/ws/{room!r}"], "a brace that is not a placeholder"),
    ([*TEMPLATE, "/ws/{room.upper}"], "a brace that is not a placeholder"),
    ([*TEMPLATE, "/ws/{room"], "a brace that is not a placeholder"),
    ([*TEMPLATE, "/ws/{room}}"], "a brace that is not a placeholder"),
    ([*TEMPLATE, "/ws/}{room}"], "a brace that is not a placeholder"),
    ([*TEMPLATE, "/ws/chat"], "says which room"),
    ([*TEMPLATE, "ws/{room}"], "must start with /"),
    (["check", CLOSED, "--timeout-factor", "nan"], "--timeout-factor must be a positive number"),
    (["check", CLOSED, "--timeout-factor", "-1"], "--timeout-factor must be a positive number"),
    (["check", CLOSED, "--deadline", "inf"], "--deadline must be a positive number"),
    (["check", CLOSED, "--deadline", "soon"], "invalid float value: 'soon'"),
    (["check", CLOSED, "--concurrency", "0"], "--concurrency must be at least 1"),
    (["check", CLOSED, "--header", "X-A: b\r\nEvil: c"], "control character"),
    (["check", CLOSED, "--header", "bad name: v"], "must look like 'Name: value'"),
    (["check", CLOSED, "--json", "."], "it is a directory"),
    (["check", CLOSED, "--junit", "no/such/dir/j.xml"], "no directory"),
    (["check", CLOSED, "--only", "nothing.*"], "no case matches"),
    (["load", "ws://[::1", "--users", "2", "--out", "o"], "Invalid IPv6 URL"),
    (["load", "ws://host:99999", "--users", "2", "--out", "o"], "Port out of range"),
    (["load", "http://host", "--users", "2", "--out", "o"], "not a ws:// or wss:// URL"),
    ([*LOAD, "--rate", "nan"], "--rate must be a positive number"),
    ([*LOAD, "--duration", "inf"], "--duration must be a positive number"),
    ([*LOAD, "--churn-interval", "-1"], "--churn-interval must be a positive number"),
    ([*LOAD, "--spawn-rate", "nan"], "--spawn-rate must be a positive number"),
    ([*LOAD, "--churn", "nan"], "--churn must be a fraction"),
    ([*LOAD, "--rooms", "0"], "--rooms must be at least 1"),
    ([*LOAD, "--room-size", "1,nan"], "--room-size weights must be positive numbers"),
    ([*LOAD, "--master", "--expect-workers", "0"], "--expect-workers must be at least 1"),
    ([*LOAD, "--master", "--master-port", "70000"], "--master-port must be a TCP port"),
    ([*LOAD, "--slo", "p99 under 50"], "--slo 'p99 under 50'"),
    ([*LOAD, "--users", "many"], "invalid int value: 'many'"),
    (["load", CLOSED, "--users", "2", "--out", "afile"], "--out afile: not a directory"),
    (["serve", "--port", "99999"], "port must be 0..65535"),
    (["serve", "--ping-interval", "nan"], "ping_interval must be a positive number"),
    (["serve", "--redis-url", "redis://[::1"], "is not a valid URL"),
    (["serve", "--redis-url", "http://host"], "must start with redis://"),
    (["serve", "--queue-size", "0"], "queue_size must be positive"),
    (["serve", "--workers", "2"], "would split rooms across processes"),
    (["report"], "give RUN"),
    (["report", "no-such-run"], "no such file or directory"),
    (["report", "bad.json"], "cannot read JSON"),
    (["report", "latin1.json"], "cannot read JSON"),
    (["report", "."], "not a load run directory"),
    (["report", "--compare", "no-such-run", "."], "no such file or directory"),
    (["report", "--compare", ".", ".", "--threshold", "nan"], "--threshold: not a percentage"),
    (["report", "bad.json", "--compare", ".", "."], "either RUN or --compare"),
    (["demo", "--duration", "0"], "--duration must be >= 1"),
    (["demo", "--users", "1"], "--users >= 2"),
    (["demo", "--out", "afile/sub", "--conversation-only"], "cannot create the directory"),
    (["schema", "extra"], "unrecognized arguments: extra"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
]


def _chatbench(cwd, *args, env=None):
    """The real console entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


@pytest.fixture
def workdir(tmp_path):
    """A directory holding a plain file, a malformed JSON file and a non-UTF-8 one."""
    (tmp_path / "afile").write_text("not a directory\n")
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "latin1.json").write_bytes(b'{"schema": "caf\xe9"}')
    return tmp_path


@pytest.mark.parametrize(("argv", "message"), MISTAKES, ids=[" ".join(a) for a, _ in MISTAKES])
def test_a_user_mistake_is_exit_2_with_one_line(workdir, argv, message):
    proc = _chatbench(workdir, *argv)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr  # one line, no traceback
    command = argv[0] if argv[0] != "frobnicate" else ""
    assert proc.stderr.startswith(f"chatbench {command}".rstrip() + ": error: "), proc.stderr
    assert message in proc.stderr
    assert proc.stdout == ""


def test_a_malformed_environment_variable_is_exit_2(tmp_path):
    import os

    env = {**os.environ, "CHATBENCH_TIMEOUT_FACTOR": "fast"}
    proc = _chatbench(tmp_path, "check", CLOSED, env=env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("chatbench check: error: CHATBENCH_TIMEOUT_FACTOR: 'fast'")
    assert proc.stderr.count("\n") == 1


def _boom(args):
    raise RuntimeError("injected bug\nsecond line")


def test_an_unexpected_exception_is_a_harness_error_exit_3(monkeypatch, capsys):
    monkeypatch.setattr(harness.commands.schema, "run", _boom)
    assert main(["schema"]) == 3
    err = capsys.readouterr().err
    first, *rest = err.splitlines()
    assert first == (
        "chatbench schema: harness error (not the server's fault): "
        "RuntimeError: injected bug / second line"
    )
    assert rest[0] == "Traceback (most recent call last):" and "_boom" in err


def test_a_harness_error_is_exit_3_from_the_console_script(tmp_path):
    script = (
        "import sys, harness.commands.report as r\n"
        "r.run = lambda args: 1 / 0\n"
        "from harness.cli import main\n"
        "sys.exit(main(['report', 'x']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith("chatbench report: harness error (not the server's fault): ")
    assert "ZeroDivisionError" in proc.stderr and "Traceback" in proc.stderr


def test_schema_prints_every_event(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    text = json.dumps(schema)
    for kind in ("welcome", "system", "message", "error"):
        assert f'"{kind}"' in text
    assert "text" in schema["client_message"]["properties"]


def test_unknown_subcommand_is_usage_error(capsys):
    assert main(["frobnicate"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_version_and_help_exit_0(capsys):
    assert main(["--version"]) == 0
    assert main(["check", "--help"]) == 0
    assert "--path-template" in capsys.readouterr().out


def test_bare_chatbench_prints_usage_for_users():
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and proc.stderr == ""
    assert proc.stdout.startswith("usage: chatbench")
    assert "chatbench check ws://HOST:PORT" in proc.stdout
    assert "harness.commands" not in proc.stdout  # written for users, not for us
