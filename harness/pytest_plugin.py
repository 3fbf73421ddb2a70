"""pytest plugin (entry point `pytest11`): `pytest --chat-url ws://...` runs the conformance cases.

Without --chat-url the plugin adds nothing to a test session.
"""

from __future__ import annotations

from typing import Any


def pytest_addoption(parser: Any) -> None:
    """Register --chat-url."""
    group = parser.getgroup("chatbench")
    group.addoption(
        "--chat-url",
        action="append",
        default=[],
        help="run chatbench's conformance cases against this server (repeat for several nodes)",
    )
