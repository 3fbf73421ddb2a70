"""Recorded results (written by make_data.py) loaded once per session."""

from pathlib import Path

import pytest

from harness.results import CheckResults
from reports import data

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def base_run() -> data.LoadRun:
    return data.load_run(DATA / "run_base")


@pytest.fixture(scope="session")
def worse_run() -> data.LoadRun:
    return data.load_run(DATA / "run_worse")


@pytest.fixture(scope="session")
def check_results() -> CheckResults:
    loaded = data.load(DATA / "check.json")
    assert isinstance(loaded, CheckResults)
    return loaded
