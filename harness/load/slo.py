"""SLO gates: `--slo "p99<50ms"`, `--slo "lost==0"`, judged against results.json.

An SLO is METRIC OP NUMBER[UNIT]. Latency metrics (fan-out unless prefixed `rtt_`, or
`connect_` for connect latency): any percentile pNN (p50, p95, p99, p999 = 99.9, p9999 =
99.99), max, mean; they need a unit (us, ms, s). Percentiles results.json does not list are
read from the run's HdrHistogram.
Counters: the deliveries (expected, delivered, lost, duplicated, out_of_order, leaked,
replayed, foreign), cleanup (abrupt_disconnects,
leave_missing, online_mismatches, welcome_missing), connections (server_closes,
connections_lost, protocol_errors, reconnects, under_planned_s, connect_errors), sends
(scheduled, sent, unsent) and cpu_max (percent of one core). OP is one of < <= > >= == !=.
Server telemetry (`--server-pid`, `--server-metrics`; `server` in results.json):
server_bytes_per_churned_conn (the leak fit; `<`/`<=` judge the upper end of its 95% interval,
`>`/`>=` the lower end), server_fd_growth (descriptors left open after the run), server_cpu_max
(percent of one core), server_rss_max (bytes). The reconnect storm's (no unit):
reconnect_p99_s and reconnect_p100_s (seconds until 99% and all dropped users were back; not
judged when they never were), storm_lost, storm_failed_handshakes, storm_left_missing,
storm_joined_missing.

A gate whose population is empty cannot be judged, and a gate that cannot be judged is not met
(`ok` false, with a `reason`): p99 over no samples is not 0, and `lost==0` says nothing when
no delivery was owed. Nor is a gate on what the run's protocol profile does not claim
(`config.profile.not_judged`: `leave_missing` on a server that announces no leaves, `rtt_*`
on one that does not echo, `welcome_missing` on one that sends no welcome).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.errors import UsageError

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_UNITS_US = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}
_LATENCY = ("p50", "p90", "p99", "p999", "max", "mean")
_PERCENTILE = re.compile(r"p(\d{1,6})")


def percentile(name: str) -> float | None:
    """The percentile `pNN` names: p95 is 95, p999 is 99.9, p9999 is 99.99; None if none."""
    m = _PERCENTILE.fullmatch(name)
    if m is None:
        return None
    digits = m.group(1)
    value = float(digits) if len(digits) <= 2 else float(f"{digits[:2]}.{digits[2:]}")
    return value if 0 < value <= 100 else None


def _is_latency(name: str) -> bool:
    return name in _LATENCY or percentile(name) is not None


def _latency(doc: Doc, section: str, hdr: str, name: str) -> float:
    if name in doc.get(section, {}):
        return _get(doc, section, name)
    if not doc.get(hdr):
        return 0.0  # no samples: the population rule says it is not judged
    from harness.load import hist

    pct = percentile(name)
    assert pct is not None
    return float(hist.decode(doc[hdr]).get_value_at_percentile(pct))


_PATTERN = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=|==|!=|<|>)\s*([0-9.]+)\s*(us|ms|s)?\s*$")

Doc = dict[str, Any]


def _get(doc: Doc, section: str, key: str) -> float:
    value = doc.get(section, {}).get(key, 0)
    return float(sum(value.values()) if isinstance(value, dict) else value)


@dataclass(frozen=True)
class _Population:
    """What a gate is judged over: its size in results.json, and what an empty one means."""

    section: str
    key: str
    empty: str


_EXPECTED = _Population("deliveries", "expected", "no delivery was expected")
_WELCOMED = _Population("connections", "welcomed", "no member was welcomed")
_OPENED = _Population("connections", "opened", "no connection was opened")
_FANOUT = _Population(
    "fanout_latency_us", "count", "no fan-out latency sample (nothing reached another member)"
)
_RTT = _Population(
    "rtt_latency_us", "count", "no round-trip sample (no sender got its own message back)"
)
_CONNECT = _Population("connect_latency_us", "count", "no connection came up")
_PREFIXES = {
    "rtt_": ("rtt_latency_us", "rtt_hdr", _RTT),
    "connect_": ("connect_latency_us", "connect_hdr", _CONNECT),
}


def _prefix(metric: str) -> str:
    """The latency prefix of `metric` ("rtt_", "connect_"; "" for fan-out or a counter)."""
    for prefix in _PREFIXES:
        if metric.startswith(prefix) and _is_latency(metric[len(prefix) :]):
            return prefix
    return ""


def _storm_value(storm: Doc, metric: str) -> float | None:
    if metric in ("reconnect_p99_s", "reconnect_p100_s"):
        value = storm.get("back_99_s" if metric == "reconnect_p99_s" else "back_100_s")
        return None if value is None else float(value)
    if metric == "storm_failed_handshakes":
        return float(sum(storm.get("failed_handshakes", {}).values()))
    if metric == "storm_lost":
        return float(storm.get("lost", 0))
    kind = metric.removeprefix("storm_").removesuffix("_missing")  # left or joined
    return float(storm.get(f"{kind}_owed", 0) - storm.get(f"{kind}_seen", 0))


STORM_METRICS = (
    "reconnect_p99_s",
    "reconnect_p100_s",
    "storm_lost",
    "storm_failed_handshakes",
    "storm_left_missing",
    "storm_joined_missing",
)
_STORM_CLAIMS = {"storm_left_missing": "leave_missing", "storm_joined_missing": "joined"}


def _storm_unjudged(storm: Doc | None, metric: str) -> str:
    """Why a storm gate cannot be judged ("" when it can)."""
    if not storm:
        return "the run had no reconnect storm (--storm-at, --restart-at)"
    dropped = storm.get("dropped", 0)
    if not dropped:
        return "the storm dropped no connection"
    if _storm_value(storm, metric) is None:
        which = "fewer than 99% of" if metric == "reconnect_p99_s" else "not all"
        return f"{which} the dropped users came back ({storm.get('back', 0)} of {dropped})"
    return ""


# counter -> (section, key in results.json, population; None: always judged)
_COUNTERS: dict[str, tuple[str, str, _Population | None]] = {
    "expected": ("deliveries", "expected", None),
    "delivered": ("deliveries", "delivered", None),
    **{k: ("deliveries", k, _EXPECTED) for k in ("lost", "duplicated", "out_of_order", "leaked")},
    "replayed": ("deliveries", "replayed", _WELCOMED),
    "foreign": ("deliveries", "foreign", _WELCOMED),
    "abrupt_disconnects": ("cleanup", "abrupt_disconnects", None),
    "leave_missing": (
        "cleanup",
        "leave_missing",
        _Population("cleanup", "abrupt_disconnects", "no abrupt disconnect happened (--churn)"),
    ),
    "online_mismatches": ("cleanup", "online_mismatches", _WELCOMED),
    "welcome_missing": ("cleanup", "welcome_missing", _OPENED),
    "server_closes": ("connections", "server_closes", _OPENED),
    "connections_lost": ("connections", "lost", _OPENED),
    "protocol_errors": ("connections", "protocol_errors", _OPENED),
    "reconnects": ("connections", "reconnects", _OPENED),
    "under_planned_s": ("connections", "under_planned_s", _OPENED),
    "connect_errors": ("connections", "errors", None),
    "scheduled": ("sends", "scheduled", None),
    "sent": ("sends", "sent", None),
    "unsent": (
        "sends",
        "unsent",
        _Population("sends", "scheduled", "no message was scheduled (no chatters)"),
    ),
    "cpu_max": ("generator", "cpu_max", None),
}


_SERVER = ("server_bytes_per_churned_conn", "server_fd_growth", "server_cpu_max", "server_rss_max")
_NO_SERVER = "not judged: no server telemetry (--server-pid or --server-metrics)"


def _server(doc: Doc, metric: str, op: str) -> tuple[float, str]:
    """A server gate's value and, when it cannot be judged, why ("" when it can)."""
    server = doc.get("server")
    if not server:
        return 0.0, _NO_SERVER
    leak = server.get("leak") or {}
    if metric == "server_bytes_per_churned_conn":
        value = leak.get("bytes_per_churned_conn")
        if leak.get("verdict", "unknown") == "unknown" or value is None:
            return float(value or 0), f"not judged: leak verdict unknown ({leak.get('reason')})"
        half = float(leak.get("ci95_bytes") or 0)
        side = {"<": 1, "<=": 1, ">": -1, ">=": -1}.get(op, 0)
        return float(value) + side * half, ""
    if metric == "server_fd_growth":
        growth = leak.get("fd_growth")
        if growth is None:
            return 0.0, "not judged: the server's descriptors before or after the run are unknown"
        return float(growth), ""
    key = "cpu" if metric == "server_cpu_max" else "rss_bytes"
    values = [float(s[key]) for s in server.get("timeseries", []) if s.get(key) is not None]
    if not values:
        return 0.0, f"not judged: no server sample has {key}"
    return max(values), ""


@dataclass(frozen=True)
class Slo:
    """One parsed gate."""

    expr: str
    metric: str
    op: str
    threshold: float
    unit: str | None

    def observe(self, results: Doc) -> float:
        """The metric's value in `results`, in the gate's unit (0 where there is none)."""
        name = self.metric
        scale = _UNITS_US[self.unit or "us"]
        if name in STORM_METRICS:
            return _storm_value(results.get("storm") or {}, name) or 0.0
        prefix = _prefix(name)
        if prefix:
            section, hdr, _ = _PREFIXES[prefix]
            return _latency(results, section, hdr, name[len(prefix) :]) / scale
        if _is_latency(name):
            return _latency(results, "fanout_latency_us", "fanout_hdr", name) / scale
        section, key, _ = _COUNTERS[name]
        return _get(results, section, key)

    def population(self) -> _Population | None:
        """What the gate is judged over (None: the metric is its own population)."""
        prefix = _prefix(self.metric)
        if prefix:
            return _PREFIXES[prefix][2]
        if self.metric in STORM_METRICS:
            return None
        if _is_latency(self.metric):
            return _FANOUT
        return _COUNTERS[self.metric][2]

    def judge(self, results: Doc) -> dict[str, Any]:
        """The verdict (harness.results.SloVerdict form); not met when it cannot be judged."""
        if self.metric in _SERVER:
            value, reason = _server(results, self.metric, self.op)
            ok = not reason and _OPS[self.op](value, self.threshold)
            return {"expr": self.expr, "value": value, "ok": ok, "reason": reason}
        value = self.observe(results)
        profile = results.get("config", {}).get("profile") or {}
        claim = "rtt" if self.metric.startswith("rtt_") else self.metric
        unclaimed = (profile.get("not_judged") or {}).get(_STORM_CLAIMS.get(claim, claim))
        if not unclaimed and self.metric in STORM_METRICS:
            unclaimed = _storm_unjudged(results.get("storm"), self.metric)
        if unclaimed:
            return {
                "expr": self.expr,
                "value": value,
                "ok": False,
                "reason": f"not judged: {unclaimed}",
            }
        population = self.population()
        if population is not None and not _get(results, population.section, population.key):
            reason = f"not judged: {population.empty}"
            return {"expr": self.expr, "value": value, "ok": False, "reason": reason}
        ok = _OPS[self.op](value, self.threshold)
        return {"expr": self.expr, "value": value, "ok": ok, "reason": ""}


def parse_slo(expr: str) -> Slo:
    """Parse one gate; UsageError on anything unknown."""
    match = _PATTERN.match(expr)
    if not match:
        raise UsageError(f"--slo {expr!r}: expected METRIC OP NUMBER[us|ms|s], like p99<50ms")
    metric, op, number, unit = match.groups()
    prefix = _prefix(metric)
    base = metric[len(prefix) :]
    is_latency = _is_latency(base)
    known = is_latency or (
        not prefix and (metric in _COUNTERS or metric in STORM_METRICS or metric in _SERVER)
    )
    if not known:
        raise UsageError(f"--slo {expr!r}: unknown metric {metric!r}")
    if is_latency and unit is None:
        raise UsageError(f"--slo {expr!r}: a latency needs a unit (us, ms or s)")
    if not is_latency and unit is not None:
        raise UsageError(f"--slo {expr!r}: {metric} is a count, it takes no unit")
    try:
        threshold = float(number)
    except ValueError:
        raise UsageError(f"--slo {expr!r}: {number!r} is not a number") from None
    return Slo(expr.strip(), metric, op, threshold, unit)


def judge_all(slos: list[Slo], results: dict[str, Any]) -> list[dict[str, Any]]:
    """Verdicts of every gate."""
    return [slo.judge(results) for slo in slos]
