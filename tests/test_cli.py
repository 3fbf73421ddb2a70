import json

import pytest

from harness.cli import main


def test_schema_prints_every_event(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    text = json.dumps(schema)
    for kind in ("welcome", "system", "message", "error"):
        assert f'"{kind}"' in text
    assert "text" in schema["client_message"]["properties"]


def test_unknown_subcommand_is_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
