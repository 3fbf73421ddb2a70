import re
from pathlib import Path

import pytest

from harness.protocol import BY_ID, CLAUSES, clause

SPEC = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()


def test_every_clause_is_in_the_spec_with_its_level():
    for c in CLAUSES:
        assert re.search(rf"\*\*`{re.escape(c.id)}`\*\*[^(]*\({c.level.value}\)", SPEC), c.id


def test_every_clause_in_the_spec_is_listed():
    cited = set(re.findall(r"\*\*`([a-z]+\.[a-z-]+)`\*\*", SPEC))
    assert cited == set(BY_ID)


def test_ids_are_unique():
    assert len(BY_ID) == len(CLAUSES)


def test_unknown_clause_is_a_clear_error():
    with pytest.raises(KeyError, match="nope"):
        clause("nope")
