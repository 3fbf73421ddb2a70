"""Shared test configuration: async tests run on asyncio through anyio's pytest plugin.

`reference_url` comes from chatbench's own pytest plugin (harness.pytest_plugin), as it does for
users; pytester drives that plugin in tests/check/test_pytest_plugin.py.
"""

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def anyio_backend():
    return "asyncio"
