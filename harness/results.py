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
    replayed: int = 0
    """Probes a member received that were sent before its connection started (history a
    server replays to a joiner): no delivery, no latency sample, no duplicate."""
    foreign: int = 0
    """On a server with one room for everybody: probes of senders of other processes or
    runs, which this run does not account (no delivery, no leak)."""


class Cleanup(_Model):
    """Cleanup after abrupt disconnects (churn)."""

    abrupt_disconnects: int = 0
    leave_missing: int = 0
    online_mismatches: int = 0
    welcome_missing: int = 0


class Connections(_Model):
    """How the run's connections went, and how the server ended them."""

    errors: int = 0
    """Connection attempts that failed (TCP or handshake)."""
    first_errors: list[str] = []
    opened: int = 0
    """Connections whose WebSocket handshake completed."""
    welcomed: int = 0
    server_closes: dict[str, int] = {}
    """Connections the server closed with a close frame, by close code: {"1011": 12}."""
    lost: int = 0
    """Connections whose stream ended without a close frame (the server or the network)."""
    protocol_errors: dict[str, int] = {}
    """Connections failed because the server broke RFC 6455, by the code chatbench closed
    with: 1002 framing, 1007 invalid UTF-8, 1009 a message over --max-message-bytes."""
    first_protocol_errors: list[str] = []
    reconnects: int = 0
    """Connections a user opened again after the server had ended its previous one."""
    under_planned_s: int = 0
    """Seconds in which some user was without the connection the plan gave it."""
    harness_errors: int = 0
    """Connections ended by a bug in chatbench itself (never counted as the server's)."""
    users: int = 0
    """Reading users that connected at least once."""
    users_ended_by_server: int = 0
    """Of those, users whose connection the server ended at least once."""


class Sends(_Model):
    """Messages the plan scheduled against messages actually sent."""

    scheduled: int = 0
    sent: int = 0
    unsent: int = 0
    """Scheduled while the sender had no connection (the server had ended it)."""


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
    replayed: int = 0
    foreign: int = 0
    unsent: int = 0
    server_closes: int = 0
    connections_lost: int = 0
    protocol_errors: int = 0
    reconnects: int = 0
    under_planned: int = 0
    """Users without the connection the plan gave them, at most, in that second."""
    saturated: bool = False
    connects: int = 0
    """Connections whose handshake (and welcome, where the profile has one) completed in that
    second: connects/s during the ramp and a reconnect storm."""


class ServerSample(_Model):
    """One second of the server under test, as `--server-pid` / `--server-metrics` saw it;
    `t` on the clock of `timeseries`. A figure the source cannot give is None."""

    t: float
    cpu: float | None = None
    """Percent of one core."""
    rss_bytes: int | None = None
    fds: int | None = None
    connections: int | None = None
    metrics: dict[str, float] = {}
    """Any other scraped gauge or counter, by its Prometheus name (labels in braces)."""


class LeakVerdict(_Model):
    """Server memory fitted against connections churned after warm-up."""

    verdict: Literal["leak", "none", "unknown"] = "unknown"
    reason: str = ""
    """Why the verdict is what it is ("unknown": why no fit was possible)."""
    churned_connections: int = 0
    bytes_per_churned_conn: float | None = None
    ci95_bytes: float | None = None
    """Half-width of the 95% confidence interval of bytes_per_churned_conn."""
    fd_growth: int | None = None
    """Descriptors the run left open: those open after it (its clients gone, the server given
    a few seconds to close what they left) minus those before it, never below 0 (a server
    that closed one of its own files left none open); None when either is unknown."""
    fds_before: int | None = None
    """The server's descriptors before the run (two readings agreeing)."""
    fds_after: int | None = None
    """...and after it."""


class ServerTelemetry(_Model):
    """What the server itself did during the run."""

    source: str
    """"pid 1234" or the metrics URL (credentials redacted)."""
    interval_s: float = 1.0
    timeseries: list[ServerSample] = []
    errors: list[str] = []
    """Samples that failed (the process ended, a scrape timed out), first few."""
    leak: LeakVerdict = LeakVerdict()


class Storm(_Model):
    """A reconnect storm (`--storm-at` / `--restart-at`): every connection dropped at once."""

    at_s: float
    """When the connections were dropped, on the clock of `timeseries`."""
    cause: Literal["drop", "restart"] = "drop"
    """`drop` (`--storm-at`: chatbench dropped them) or `restart` (`--restart-at`)."""
    dropped: int = 0
    back: int | None = None
    """Of the dropped users, how many were connected (and welcomed) again."""
    back_99_s: float | None = None
    """Seconds until 99% of the dropped users were connected (and welcomed) again."""
    back_100_s: float | None = None
    failed_handshakes: dict[str, int] = {}
    """Failed reconnect attempts by HTTP status ("503") or close code ("1013") or "refused"."""
    lost: int = 0
    """Messages lost across the storm (sent while the members were connected, never
    delivered)."""
    left_owed: int = 0
    left_seen: int = 0
    joined_owed: int = 0
    joined_seen: int = 0


class Generator(_Model):
    """How busy the load generator itself was."""

    cpu_max: float = 0
    saturated: bool = False


class SloVerdict(_Model):
    """One `--slo` gate and whether the run met it."""

    expr: str
    value: float
    ok: bool
    reason: str = ""
    """Why the gate could not be judged (its population was empty); "" when it was."""


class LoadResults(_Model):
    """results.json of `chatbench load`."""

    schema_: str = Field(LOAD_SCHEMA, alias="schema")
    fanout_latency_us: LatencySummary
    rtt_latency_us: LatencySummary
    connect_latency_us: LatencySummary = LatencySummary()
    """TCP connect + WebSocket handshake + welcome (or handshake alone without a welcome)."""
    deliveries: Deliveries
    cleanup: Cleanup
    connections: Connections = Connections()
    sends: Sends = Sends()
    broken: list[str] = []
    """Why the run proves nothing or the server broke it (exit 1 even without --slo)."""
    timeseries: list[TimeseriesRow] = []
    config: dict[str, Any] = {}
    generator: Generator = Generator()
    slo: list[SloVerdict] = []
    by_room_size: dict[str, LatencySummary] = {}
    fanout_hdr: str = ""
    """The whole run's fan-out histogram, HdrHistogram compressed base64 (`encode()`)."""
    rtt_hdr: str = ""
    """The whole run's round-trip histogram, same encoding."""
    connect_hdr: str = ""
    """The whole run's connect-latency histogram, same encoding."""
    storm: Storm | None = None
    server: ServerTelemetry | None = None
    """Server telemetry (`--server-pid`, `--server-metrics`); None without."""


Verdict = Literal["pass", "fail", "blocked", "error", "skip", "n/a"]
"""`blocked`: a precondition (another clause) failed before the case could judge its own;
`n/a`: the profile's server does not claim what the clause rests on (no welcome, no rooms)."""


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
    not_applicable: int = 0


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
