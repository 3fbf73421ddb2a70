"""username.sanitized judges by the spec's literal table, not by the harness's own sanitizer."""

from __future__ import annotations

from scenarios.conformance import connecting
from tests.protocol.test_names import spec_cases


def test_the_case_checks_exactly_the_spec_table():
    assert spec_cases() == connecting.SANITIZED


def test_the_case_does_not_compute_its_expectation():
    assert "sanitize_username" not in vars(connecting)
