"""The registry: one case per clause, each quoting its clause, selected by globs."""

from __future__ import annotations

import inspect
import re

import pytest

from harness.check import load_cases, select, unjudgeable
from harness.errors import UsageError
from harness.protocol import CLAUSES


def test_one_case_per_clause_each_quoting_its_clause():
    cases = load_cases()
    assert [c.id for c in cases] == [c.id for c in CLAUSES]
    for case in cases:
        if case.run is None:
            assert case.skip, case.id
            continue
        source = inspect.getsource(case.run)
        assert re.search(r'# \d+\. "', source), f"{case.id}: no quoted clause comment"
        assert case.sends and case.expects


def test_a_clause_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="two cases"):
        unjudgeable("join.welcome", "again")


def test_select_by_globs():
    cases = load_cases()
    assert [c.id for c in select(cases, ["leave.*"], ["*.half-open"])] == [
        "leave.clean",
        "leave.abrupt",
    ]
    with pytest.raises(UsageError):
        select(cases, ["nope"], [])
