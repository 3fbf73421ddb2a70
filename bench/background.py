"""Other load on the machine, measured before each search and kept in the results.

Capacities are measured against the whole box: on 2 cores a compile, a CI neighbour or a
stray busy loop that takes a core while one server is searched halves that server's number
and skews every ratio built on it. Each search (and parts 2 and 3) starts by sampling how busy
the machine is with none of the benchmark's processes running; above `LIMIT` the run says so
as it goes, in its closing lines and in the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psutil

LIMIT = 0.25  # share of all cores busy before a search that makes its result suspect
KEY = "background_busy"


def busy(seconds: float = 1.0) -> float:
    """Share of all cores busy over the next `seconds` (0..1)."""
    return float(psutil.cpu_percent(interval=seconds)) / 100


def check(label: str, log: Callable[[str], None], seconds: float = 1.0) -> float:
    """Sample the machine before `label` runs; warn through `log` when it is already busy."""
    share = busy(seconds)
    if share > LIMIT:
        log(f"  warning: {_warning(label, share)}")
    return share


def warnings(results: dict[str, Any]) -> list[str]:
    """One line for each search or part that started on a machine busy with other work."""
    return [_warning(label, share) for label, share in _samples(results) if share > LIMIT]


def _warning(label: str, share: float) -> str:
    return (
        f"the machine was {share:.0%} busy before {label} started (other processes); "
        "its numbers read low and the ratios built on them are suspect"
    )


def _samples(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, float]]:
    if not isinstance(node, dict):
        return
    if isinstance(node.get(KEY), int | float):
        yield " ".join(path) or "the run", float(node[KEY])
    for key, child in node.items():
        yield from _samples(child, path if key in ("servers", "setups") else (*path, key))
