"""No password or token reaches an output of check or load: results, transcripts, console."""

from __future__ import annotations

import json

from harness.cli import main
from harness.redact import redact_url
from tests.fakes.chat_server import running_fake

SECRET, TOKEN = "s3cretpw", "tok-9a8b7c"
PROFILE = """\
name = "v1-with-a-token"
[connect]
url = "/ws/chat/{room}?username={username}&token={env:CB_TEST_TOKEN}"
[receive]
welcome = { match = { type = "welcome" }, online = "/online", room = "/room" }
joined = { match = { type = "system" }, field = "/message", regex = '^(?P<user>.*) joined$' }
left = { match = { type = "system" }, field = "/message", regex = '^(?P<user>.*) left$' }
message = { match = { type = "message" }, user = "/user", text = "/text", room = "/room" }
"""


def test_redact_url():
    assert redact_url("ws://ann:pw@h:1/p?token=t&x=1") == "ws://ann:***@h:1/p?token=***&x=1"
    assert redact_url("ws://h:1/p") == "ws://h:1/p"


def test_check_writes_no_secret_anywhere(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CB_TEST_TOKEN", TOKEN)
    profile = tmp_path / "p.toml"
    profile.write_text(PROFILE)
    out = {k: tmp_path / f"out.{k}" for k in ("json", "xml", "html")}
    with running_fake({"alter-text"}) as url:  # a failure, so transcripts are written
        authed = url.replace("ws://", f"ws://ann:{SECRET}@")
        rc = main(
            [
                "check",
                authed,
                "--profile",
                str(profile),
                "--only",
                "message.roundtrip",
                "--json",
                str(out["json"]),
                "--junit",
                str(out["xml"]),
                "--html",
                str(out["html"]),
            ]
        )
    assert rc == 1
    printed = capsys.readouterr()
    texts = [printed.out, printed.err, *(p.read_text() for p in out.values())]
    for text in texts:
        assert SECRET not in text and TOKEN not in text
    doc = json.loads(out["json"].read_text())
    opened = [e["data"] for c in doc["cases"] for e in c["transcript"] if e["dir"] == "open"]
    assert opened and all("ann:***@" in d and "token=***" in d for d in opened)


def test_an_unreachable_url_is_shown_without_its_password(capsys):
    assert main(["check", f"ws://ann:{SECRET}@127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert SECRET not in err and "ann:***@127.0.0.1:1" in err
