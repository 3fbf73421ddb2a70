"""The files chatbench writes: load results (results.json) and check results (--json).

These models are the contract between the producers (`chatbench load`, `chatbench check`) and
the readers (`chatbench report`, SLO gates, CI). Pure data, no I/O beyond (de)serialization.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

LOAD_SCHEMA = "chatbench.load/1"
CHECK_SCHEMA = "chatbench.check/1"


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class LatencySummary(_Model):
    """Percentiles of one latency distribution, in microseconds."""

    count: int = 0
    p50: float = 0
    p90: float = 0
    p99: float = 0
    p999: float = 0
    max: float = 0
    mean: float = 0


class Deliveries(_Model):
    """The delivery ledger: what every expected recipient got."""

    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    leaked: int = 0


class Cleanup(_Model):
    """Cleanup after abrupt disconnects (churn)."""

    abrupt_disconnects: int = 0
    leave_missing: int = 0
    online_mismatches: int = 0


class TimeseriesRow(_Model):
    """One second of a load run; `t` is seconds since the run started."""

    t: float
    sent: int = 0
    delivered: int = 0
    connections: int = 0
    p50: float = 0
    p90: float = 0
    p99: float = 0
    max: float = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    leave_missing: int = 0
    abrupt_disconnects: int = 0
    saturated: bool = False


class Generator(_Model):
    """How busy the load generator itself was."""

    cpu_max: float = 0
    saturated: bool = False


class SloVerdict(_Model):
    """One `--slo` gate and whether the run met it."""

    expr: str
    value: float
    ok: bool


class LoadResults(_Model):
    """results.json of `chatbench load`."""

    schema_: str = Field(LOAD_SCHEMA, alias="schema")
    fanout_latency_us: LatencySummary
    rtt_latency_us: LatencySummary
    deliveries: Deliveries
    cleanup: Cleanup
    timeseries: list[TimeseriesRow] = []
    config: dict[str, Any] = {}
    generator: Generator = Generator()
    slo: list[SloVerdict] = []
    by_room_size: dict[str, LatencySummary] = {}
    fanout_hdr: str = ""
    """The whole run's fan-out histogram, HdrHistogram compressed base64 (`encode()`)."""
    rtt_hdr: str = ""
    """The whole run's round-trip histogram, same encoding."""


Verdict = Literal["pass", "fail", "blocked", "error", "skip"]
"""`blocked`: a precondition (another clause) failed before the case could judge its own."""


class TranscriptEntry(_Model):
    """One frame or connection event seen by a harness client; `t` in seconds from case start."""

    t: float
    client: str
    dir: Literal["send", "recv", "open", "close", "note"]
    data: str = ""
    code: int | None = None


class CaseResult(_Model):
    """The verdict on one clause."""

    id: str
    level: Literal["MUST", "SHOULD"]
    section: str
    title: str
    verdict: Verdict
    blocked_by: str = ""
    """For `blocked`: the clause whose failure kept this case from judging its own."""
    duration_s: float = 0
    reason: str = ""
    expected: str = ""
    observed: str = ""
    url: str = ""
    transcript: list[TranscriptEntry] = []


class CheckSummary(_Model):
    """Counts of verdicts."""

    passed: int = 0
    failed: int = 0
    blocked: int = 0
    errors: int = 0
    skipped: int = 0


class CheckResults(_Model):
    """The --json file of `chatbench check`."""

    schema_: str = Field(CHECK_SCHEMA, alias="schema")
    urls: list[str]
    started: str
    duration_s: float
    strict: bool = False
    exit_code: int
    summary: CheckSummary
    cases: list[CaseResult]
