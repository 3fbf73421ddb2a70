"""Templates: placeholders filled by place (URL, frame, plain); unknown ones caught early."""

from __future__ import annotations

import orjson
import pytest

from harness.profile import templates

VALUES = {"room": "café x", "username": 'a&"b', "member": "7", "text": 'say "hi"\n'}


def test_urls_percent_encode_and_can_drop_the_username_parameter():
    t = "/ws/{room}?u={username}&m={member}"
    assert templates.render_url(t, VALUES) == "/ws/caf%C3%A9%20x?u=a%26%22b&m=7"
    assert templates.render_url(t, VALUES, drop="username") == "/ws/caf%C3%A9%20x?m=7"


@pytest.mark.parametrize(
    ("template", "want"),
    [
        ('{"text": {text}}', {"text": 'say "hi"\n'}),  # bare: JSON-encoded with quotes
        ('{"room": "{room}", "n": {member}}', {"room": "café x", "n": "7"}),  # in a string
        ('["add user",{username}]', ["add user", 'a&"b']),
    ],
)
def test_frames_stay_valid_json(template, want):
    assert orjson.loads(templates.render(template, VALUES, "frame")) == want


def test_raw_inserts_as_is_and_plain_leaves_values_alone():
    assert templates.render("{text:raw}", VALUES, "frame") == 'say "hi"\n'
    assert templates.render("Client #{member}", VALUES, "plain") == "Client #7"


def test_environment_variables(monkeypatch):
    monkeypatch.setenv("CB_TOKEN", "s3")
    assert templates.render("Bearer {env:CB_TOKEN}", VALUES, "plain") == "Bearer s3"
    monkeypatch.delenv("CB_TOKEN")
    with pytest.raises(templates.TemplateError, match="CB_TOKEN"):
        templates.render("Bearer {env:CB_TOKEN}", VALUES, "plain")


def test_json_braces_are_literal_and_unknown_placeholders_are_errors():
    assert templates.placeholders('{"a": {"b": {text}}}') == ["text"]
    templates.check("/ws/{room}", templates.BUILTIN, "connect.url")
    with pytest.raises(templates.TemplateError, match=r"connect.url: unknown placeholder \{roo\}"):
        templates.check("/ws/{roo}", templates.BUILTIN, "connect.url")
