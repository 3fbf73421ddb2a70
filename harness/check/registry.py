"""Conformance cases as data: one per clause of protocol v1, registered by scenario modules.

A scenario module (scenarios/conformance/SECTION.py) decorates one small async function per
clause with `@scenario(clause_id, sends=..., expects=...)`. `load_cases()` imports them all.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from harness.check.claims import CLAIMS
from harness.check.context import CaseContext
from harness.errors import UsageError
from harness.protocol import CLAUSES, Clause, clause

CaseFn = Callable[[CaseContext], Awaitable[None]]
SCENARIO_PACKAGE = "scenarios.conformance"


@dataclass(frozen=True)
class Case:
    """One conformance case: the clause it judges, what it does, and how long it may take."""

    clause: Clause
    sends: str
    expects: str
    run: CaseFn | None
    budget: float = 20.0
    """Seconds (before --timeout-factor) the whole case may take."""
    alone: bool = False
    """Timing-sensitive: runs with no other case beside it."""
    background: bool = False
    """Mostly idle and long: starts first and overlaps everything else."""
    skip: str = ""
    """When set, the case is never run and reported as skip with this reason."""
    needs: tuple[str, ...] = ()
    """What the server must claim for the clause to apply (harness.check.claims): else n/a."""

    @property
    def id(self) -> str:
        """The clause id, which is the case id."""
        return self.clause.id


_REGISTRY: dict[str, Case] = {}


def scenario(
    clause_id: str,
    *,
    sends: str,
    expects: str,
    budget: float = 20.0,
    alone: bool = False,
    background: bool = False,
    needs: tuple[str, ...] = (),
) -> Callable[[CaseFn], CaseFn]:
    """Register the decorated function as the case of `clause_id`; `needs` names the claims
    (harness.check.claims) without which it is n/a."""
    unknown = set(needs) - CLAIMS.keys()
    if unknown:
        raise ValueError(f"{clause_id}: unknown claims {sorted(unknown)}")

    def register(fn: CaseFn) -> CaseFn:
        _add(Case(clause(clause_id), sends, expects, fn, budget, alone, background, "", needs))
        return fn

    return register


def unjudgeable(clause_id: str, reason: str) -> None:
    """Register a clause that cannot be checked remotely: always reported as skip."""
    _add(Case(clause(clause_id), "nothing", "nothing", None, skip=reason))


def _add(case: Case) -> None:
    if case.id in _REGISTRY:
        raise ValueError(f"two cases for clause {case.id}")
    _REGISTRY[case.id] = case


def load_cases() -> list[Case]:
    """Every registered case, in the order of the spec."""
    importlib.import_module(SCENARIO_PACKAGE)
    order = {c.id: i for i, c in enumerate(CLAUSES)}
    return sorted(_REGISTRY.values(), key=lambda c: order[c.id])


def select(cases: Iterable[Case], only: list[str], exclude: list[str]) -> list[Case]:
    """Cases whose id matches one `only` glob (all when none) and no `exclude` glob."""
    chosen = [
        c
        for c in cases
        if (not only or any(fnmatch.fnmatchcase(c.id, g) for g in only))
        and not any(fnmatch.fnmatchcase(c.id, g) for g in exclude)
    ]
    if not chosen:
        raise UsageError(f"no case matches --only {only} / --exclude {exclude} (see --list)")
    return chosen
