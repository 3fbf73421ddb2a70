"""Run cases: a reachability probe, per-case budgets, a global deadline, honest verdicts.

Verdicts: `pass`; `fail` when the case raised ServerViolation (or its budget ran out while it
waited on the server); `blocked` when a violation of another clause kept the case from judging
its own (no welcome, a handshake refused while setting up: see `blocked_by`); `error` when the
harness itself broke (any other exception, or a budget that ran out while the harness was not
waiting on the server); `skip` for unjudgeable clauses.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
import urllib.parse
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from websockets.exceptions import InvalidHandshake, InvalidURI

from harness.check.claims import not_applicable
from harness.check.context import CaseContext, CheckConfig, connect_once, describe_handshake_error
from harness.check.registry import Case
from harness.check.verdicts import CaseSkipped, ServerViolation
from harness.errors import UnreachableError, UsageError
from harness.redact import redact_url
from harness.results import CHECK_SCHEMA, CaseResult, CheckResults, CheckSummary

EXIT_OK, EXIT_FAIL, EXIT_UNREACHABLE, EXIT_HARNESS = 0, 1, 2, 3
PROBE_WAIT = 5.0
PRECONDITIONS = frozenset({"connect.endpoint", "join.welcome"})
"""Clauses every case relies on to set up: connecting and being welcomed."""


async def probe(config: CheckConfig) -> None:
    """Raise UnreachableError unless every URL completes a WebSocket handshake."""
    protocol = config.protocol
    for i, base in enumerate(config.urls):
        url = config.url(i, "chatbench-probe", "chatbench-probe")
        shown = redact_url(
            config.base(i) + protocol.shown_path("chatbench-probe", "chatbench-probe", 0)
        )
        headers = dict(protocol.headers("chatbench-probe", "chatbench-probe", 0))
        headers.update(config.headers)
        try:
            ws = await connect_once(
                url,
                additional_headers=headers,
                subprotocols=protocol.subprotocols() or None,  # type: ignore[arg-type]
                open_timeout=config.t(PROBE_WAIT),
                compression=None,
                proxy=None,
                close_timeout=config.t(0.5),
            )
        except InvalidURI as exc:
            raise UsageError(f"not a ws:// or wss:// URL: {redact_url(base)} ({exc})") from None
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            raise UnreachableError(f"cannot reach {shown}: {_hint(exc, base)}") from None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), config.t(1))


def _hint(exc: BaseException, base: str) -> str:
    """The handshake error, with what the user may fix."""
    text = describe_handshake_error(exc)
    if "redirect to" in text:
        return f"{text} (chatbench follows no redirect: give the URL it points to)"
    if "HTTP 404" in text or "HTTP 403" in text:
        own = urllib.parse.urlsplit(base).path.rstrip("/")
        if own:
            return (
                f"{text} (the URL's own path {own} comes before the profile's path: give the "
                "server's base URL, ws://HOST:PORT, and its endpoint as --path-template or in "
                "a --profile)"
            )
        return f"{text} (check --path-template or --profile, and any Origin the server wants)"
    return text


def _result(case: Case, verdict: str, started: float, reason: str = "", **kw: object) -> CaseResult:
    return CaseResult(
        id=case.id,
        level=case.clause.level.value,
        section=case.clause.section,
        title=case.clause.title,
        verdict=verdict,  # type: ignore[arg-type]
        duration_s=round(time.monotonic() - started, 3),
        reason=reason,
        **kw,  # type: ignore[arg-type]
    )


def _violation_result(case: Case, ctx: CaseContext, v: ServerViolation, t0: float) -> CaseResult:
    blocker = blocked_by(case, ctx, v)
    if blocker:
        verdict, reason = "blocked", f"blocked by {blocker}: {v.reason}"
    else:
        verdict = "fail"
        reason = v.reason if v.clause in (None, case.id) else f"[{v.clause}] {v.reason}"
    return _result(
        case,
        verdict,
        t0,
        reason,
        blocked_by=blocker,
        expected=v.expected,
        observed=v.observed,
        transcript=ctx.log.entries(),
    )


def blocked_by(case: Case, ctx: CaseContext, v: ServerViolation) -> str:
    """The clause that kept `case` from judging its own, or "" when `v` is the case's failure.

    A violation of another clause means this case could not judge its own: `blocked`. The one
    exception is a precondition (connecting, the welcome) that breaks after the case acted on
    the server (sent a frame, closed a client): then the action broke the server, which is
    the case's own failure (a newcomer refused after a bad frame fails `input.*`).
    """
    if v.clause is None or v.clause == case.id:
        return ""
    if v.clause in PRECONDITIONS and ctx.acted:
        return ""
    return v.clause


def _first_client_violation(ctx: CaseContext) -> ServerViolation | None:
    return next((c.violation for c in ctx.clients if c.violation), None)


async def run_case(case: Case, config: CheckConfig, budget: float | None = None) -> CaseResult:
    """Run one case in a fresh context and judge it; never raises (but on cancellation)."""
    result = await _judge(case, config, budget)
    result.url = ", ".join(redact_url(u) for u in config.urls)
    return result


async def _judge(case: Case, config: CheckConfig, budget: float | None) -> CaseResult:
    t0 = time.monotonic()
    if case.run is None:
        return _result(case, "skip", t0, case.skip)
    na = not_applicable(case.needs, config.protocol)
    if na:
        return _result(case, "n/a", t0, na)
    ctx = CaseContext(config)
    limit = config.t(case.budget) if budget is None else min(budget, config.t(case.budget))
    try:
        async with asyncio.timeout(limit):
            await case.run(ctx)
        schema = _first_client_violation(ctx)
        if schema:
            raise schema
        return _result(case, "pass", t0)
    except ServerViolation as v:
        return _violation_result(case, ctx, _first_client_violation(ctx) or v, t0)
    except CaseSkipped as exc:
        return _result(case, "skip", t0, str(exc))
    except TimeoutError:
        return _timed_out(case, ctx, limit, t0)
    except Exception as exc:
        return _harness_error(case, ctx, exc, t0)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ctx.aclose(), config.t(3))


def _timed_out(case: Case, ctx: CaseContext, limit: float, t0: float) -> CaseResult:
    waiting = ctx.waits.interrupted or ctx.waits.pending[::-1]
    if waiting:
        what = waiting[0]
        v = ServerViolation(
            f"no progress within the case budget of {limit:.1f} s: still waiting for {what}",
            expected=f"the case completes within {limit:.1f} s",
            observed=f"waiting for {what}",
        )
        return _violation_result(case, ctx, v, t0)
    exc = TimeoutError(f"case exceeded its budget of {limit:.1f} s outside any server wait")
    return _harness_error(case, ctx, exc, t0)


def _harness_error(case: Case, ctx: CaseContext, exc: BaseException, t0: float) -> CaseResult:
    trace = "".join(traceback.format_exception(exc))
    return _result(
        case,
        "error",
        t0,
        f"harness error (not the server's fault): {type(exc).__name__}: {exc}",
        observed=trace,
        transcript=ctx.log.entries(),
    )


OnResult = Callable[[CaseResult], None]


async def run_cases(
    cases: Sequence[Case], config: CheckConfig, on_result: OnResult | None = None
) -> list[CaseResult]:
    """Run the cases: background ones first, lone ones one by one, the rest concurrently.

    A server with one room for everybody (a profile with rooms = false) gets every case one
    at a time, the background ones last: the whole server is each case's room.
    """
    deadline = time.monotonic() + config.deadline
    results: dict[str, CaseResult] = {}

    def record(result: CaseResult) -> None:
        results[result.id] = result
        if on_result is not None:
            on_result(result)

    if not config.protocol.rooms:
        await _one_by_one(cases, config, deadline, record)
        return [results[c.id] for c in cases]
    gate = asyncio.Semaphore(config.concurrency)

    async def one(case: Case, gated: bool) -> None:
        async with gate if gated else contextlib.nullcontext():
            left = deadline - time.monotonic()
            if left <= 0:
                record(_not_run(case, config.deadline))
                return
            record(await run_case(case, config, left))

    background = [asyncio.create_task(one(c, False)) for c in cases if c.background]
    for case in (c for c in cases if c.alone and not c.background):
        await one(case, False)
    await asyncio.gather(*(one(c, True) for c in cases if not (c.alone or c.background)))
    await asyncio.gather(*background)
    return [results[c.id] for c in cases]


async def _one_by_one(
    cases: Sequence[Case], config: CheckConfig, deadline: float, record: OnResult
) -> None:
    # as with rooms: the timing-sensitive cases first, on a server no other case has touched
    for case in sorted(cases, key=lambda c: (c.background, not c.alone)):
        left = deadline - time.monotonic()
        record(await run_case(case, config, left) if left > 0 else _not_run(case, config.deadline))


def _not_run(case: Case, deadline: float) -> CaseResult:
    return _result(
        case,
        "error",
        time.monotonic(),
        f"not run: the --deadline of {deadline:.0f} s was reached first",
    )


def exit_code(cases: Sequence[CaseResult], strict: bool) -> int:
    """1 if a counted case failed or was blocked, else 3 if the harness erred, else 0."""
    counted = [
        c for c in cases if c.verdict in ("fail", "blocked") and (c.level == "MUST" or strict)
    ]
    if counted:
        return EXIT_FAIL
    if any(c.verdict == "error" for c in cases):
        return EXIT_HARNESS
    return EXIT_OK


def summarize(
    cases: list[CaseResult], config: CheckConfig, started: datetime, duration: float
) -> CheckResults:
    """The CheckResults document of a run."""
    summary = CheckSummary(
        passed=sum(c.verdict == "pass" for c in cases),
        failed=sum(c.verdict == "fail" for c in cases),
        blocked=sum(c.verdict == "blocked" for c in cases),
        errors=sum(c.verdict == "error" for c in cases),
        skipped=sum(c.verdict == "skip" for c in cases),
        not_applicable=sum(c.verdict == "n/a" for c in cases),
    )
    return CheckResults(
        schema=CHECK_SCHEMA,
        urls=[redact_url(u) for u in config.urls],
        started=started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        duration_s=round(duration, 3),
        strict=config.strict,
        exit_code=exit_code(cases, config.strict),
        summary=summary,
        cases=cases,
    )


async def check(
    cases: Sequence[Case], config: CheckConfig, on_result: OnResult | None = None
) -> CheckResults:
    """Probe the server, then run `cases`; UnreachableError when no handshake is possible.
    `on_result` is told of each case as it ends."""
    started, t0 = datetime.now(UTC), time.monotonic()
    await probe(config)
    results = await run_cases(cases, config, on_result)
    return summarize(results, config, started, time.monotonic() - t0)


__all__ = ["check", "exit_code", "probe", "run_case", "run_cases"]
