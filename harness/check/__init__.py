"""`chatbench check`: the I/O around the pure protocol layer that judges a live server.

`client` records and validates frames, `context` gives each case fresh rooms and scaled waits,
`registry` holds the cases (defined in scenarios/conformance), `runner` runs and judges them,
`output` writes the console table, JSON and JUnit.
"""

from harness.check.client import Client, is_joined, is_left, is_message, is_system, show
from harness.check.context import DEFAULT_TEMPLATE, WAIT, CaseContext, CheckConfig
from harness.check.registry import Case, load_cases, scenario, select, unjudgeable
from harness.check.verdicts import CaseSkipped, ServerViolation

__all__ = [
    "DEFAULT_TEMPLATE",
    "WAIT",
    "Case",
    "CaseContext",
    "CaseSkipped",
    "CheckConfig",
    "Client",
    "ServerViolation",
    "is_joined",
    "is_left",
    "is_message",
    "is_system",
    "load_cases",
    "scenario",
    "select",
    "show",
    "unjudgeable",
]
