"""`chatbench profile list` and `chatbench profile check FILE [URL]`."""

from __future__ import annotations

from harness.cli import main
from tests.servers.relay_no_echo import running_relay_no_echo

RELAY = "tests/servers/profiles/relay_no_echo.toml"


def test_list_shows_every_builtin(capsys):
    assert main(["profile", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("v1", "fastapi-docs", "socketio"):
        assert name in out


def test_check_probes_a_server_and_shows_each_event_kind(capsys):
    with running_relay_no_echo() as url:
        assert main(["profile", "check", RELAY, url]) == 0
    out = capsys.readouterr().out
    assert "profile relay-no-echo: valid" in out
    assert "welcome    " in out and "online=1" in out
    assert "every event the profile claims was seen" in out


def test_a_matcher_that_reads_nothing_is_shown_and_fails(tmp_path, capsys):
    wrong = tmp_path / "wrong.toml"
    from pathlib import Path

    text = Path(RELAY).read_text().replace('type = "hello"', 'type = "welcome"')
    wrong.write_text(text)
    with running_relay_no_echo() as url:
        assert main(["profile", "check", str(wrong), url]) == 1
    out = capsys.readouterr().out
    assert "claimed but not seen: welcome" in out and '"type": "hello"' in out


def test_an_invalid_profile_is_a_usage_error_naming_its_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[receive]\nmessage = { text = "text" }\n')
    assert main(["profile", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml line 3: receive.message.text" in err and err.count("\n") == 1
