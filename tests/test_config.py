"""check and load options from chatbench.toml, pyproject.toml and CHATBENCH_*; flags win."""

from __future__ import annotations

import pytest

from harness.cli import build_parser
from harness.config import apply
from harness.errors import UsageError


def _args(tmp_path, argv, environ=None, files=None):
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    parser = build_parser()
    apply(parser.commands[argv[0]], argv[0], environ or {}, tmp_path)
    return parser.parse_args(argv)


def test_file_then_environment_then_flag(tmp_path):
    files = {"chatbench.toml": '[check]\ntimeout-factor = 2\nprofile = "socketio"\n'}
    args = _args(tmp_path, ["check", "ws://x"], files=files)
    assert (args.timeout_factor, args.profile) == (2.0, "socketio")
    env = {"CHATBENCH_TIMEOUT_FACTOR": "3"}
    assert _args(tmp_path, ["check", "ws://x"], env, files).timeout_factor == 3.0
    flag = ["check", "ws://x", "--timeout-factor", "4"]
    assert _args(tmp_path, flag, env, files).timeout_factor == 4.0


def test_pyproject_tool_table_lists_and_flags(tmp_path):
    files = {
        "pyproject.toml": '[tool.chatbench.check]\nonly = ["join.*", "leave.*"]\nstrict = true\n'
        'urls = ["ws://a", "ws://b"]\n'
    }
    args = _args(tmp_path, ["check"], files=files)
    assert args.only == ["join.*", "leave.*"] and args.strict is True
    assert args.urls == ["ws://a", "ws://b"]


@pytest.mark.parametrize(
    ("environ", "files", "message"),
    [
        ({"CHATBENCH_TIMEOUT_FACTOR": "abc"}, {}, "CHATBENCH_TIMEOUT_FACTOR: 'abc'"),
        ({"CHATBENCH_STRICT": "maybe"}, {}, "is not true or false"),
        ({}, {"chatbench.toml": "[check]\nprofil = 'x'\n"}, "[check] has no option 'profil'"),
        ({}, {"chatbench.toml": "[check]\ndeadline = [1, 2]\n"}, "takes one value"),
        ({}, {"chatbench.toml": "[check\n"}, "cannot read"),
    ],
)
def test_a_bad_value_anywhere_is_an_error_naming_it(tmp_path, environ, files, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[")):
        _args(tmp_path, ["check", "ws://x"], environ, files)


def test_the_command_line_reports_it_in_one_line(tmp_path, monkeypatch, capsys):
    from harness.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHATBENCH_DEADLINE", "soon")
    assert main(["check", "ws://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CHATBENCH_DEADLINE: 'soon'" in err
