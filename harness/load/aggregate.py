"""Merging the reports of every process and assembling results.json and the HDR log.

A master (or a local run) adds up the reports `Recorder.take()` produced: histograms by HDR
addition, counters by sum, connections by sum, CPU by max. Every histogram has the same
configuration, so the merged result is exactly what one process would have recorded.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogWriter

from harness.load import hist
from harness.load.ledger import Totals
from harness.load.recorder import COUNTERS
from harness.load.storm import summarize
from harness.load.verdict import broken_reasons
from harness.results import LOAD_SCHEMA, LoadResults

SATURATION_CPU = 90.0
"""Above this share of one core the generator measures itself more than the server."""


class Second:
    """One second of the whole run, merged over processes.

    Its latencies are kept as the processes sent them (compressed HdrHistogram text, tens to
    hundreds of bytes) and merged when asked for: an HdrHistogram is 136 KiB of counts, and
    three of them for every second of the run were 400 KiB more memory each second (1.4 GiB
    in an hour) in the process that holds the users of a local run.
    """

    def __init__(self) -> None:
        self._fanout: dict[int, list[str]] = {}  # room size -> each report's histogram text
        self._rtt: list[str] = []
        self._connect: list[str] = []
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.connections = 0
        self.under_planned = 0
        self.cpu = 0.0
        self.saturated = False

    def add(self, data: dict[str, Any]) -> None:
        """Add one process's bucket (the form of `Bucket.encode`)."""
        for size, text in data.get("fanout", {}).items():
            if text:
                self._fanout.setdefault(int(size), []).append(text)
        if data.get("rtt"):
            self._rtt.append(data["rtt"])
        if data.get("connect"):
            self._connect.append(data["connect"])
        for name, value in data.get("counts", {}).items():
            self.counts[name] = self.counts.get(name, 0) + int(value)
        self.connections += int(data.get("connections", 0))
        self.under_planned += int(data.get("under_planned", 0))
        self.cpu = max(self.cpu, float(data.get("cpu", 0)))
        self.saturated = self.saturated or bool(data.get("saturated"))

    @property
    def fanout(self) -> dict[int, HdrHistogram]:
        """This second's fan-out latencies by room size (merged now: cheap, not free)."""
        return {size: _merged(texts) for size, texts in self._fanout.items()}

    @property
    def rtt(self) -> HdrHistogram:
        """This second's round-trip latencies."""
        return _merged(self._rtt)

    @property
    def connect(self) -> HdrHistogram:
        """This second's connect latencies."""
        return _merged(self._connect)

    def fanout_all(self) -> HdrHistogram:
        """This second's fan-out latencies over every room size."""
        return _merged([text for texts in self._fanout.values() for text in texts])

    def reports(self) -> tuple[tuple[int, int], ...]:
        """(room size, reports added) for each size: changes whenever the fan-out does."""
        return tuple(sorted((size, len(texts)) for size, texts in self._fanout.items()))


def _merged(texts: list[str]) -> HdrHistogram:
    if len(texts) == 1:  # one process: nothing to add
        return hist.decode(texts[0])
    return hist.merged([hist.decode(text) for text in texts])


class Aggregate:
    """Everything the processes of one run reported."""

    def __init__(self) -> None:
        self.seconds: dict[int, Second] = {}
        self.totals = Totals()
        self.finals = 0
        self.connect_errors: list[str] = []
        self.per_process: list[dict[str, int]] = []
        self.fanout_recorded = 0
        self.server_closes: dict[str, int] = {}
        self.protocol_errors: dict[str, int] = {}
        self.protocol_reasons: list[str] = []
        self.storms: list[dict[str, Any]] = []  # each process's StormBook.report

    def merge(self, report: dict[str, Any], shift_s: int = 0) -> None:
        """Add one report; `shift_s` moves its seconds onto the master's clock."""
        for sec, data in report.get("buckets", {}).items():
            key = int(sec) + shift_s
            self.seconds.setdefault(key, Second()).add(data)
        totals = report.get("totals")
        if totals is not None:
            self.finals += 1
            self.per_process.append({k: int(v) for k, v in totals.items()})
            self.connect_errors += report.get("connect_errors", [])[:5]
            self.protocol_reasons += report.get("first_protocol_errors", [])[:5]
            if report.get("storm"):
                self.storms.append(report["storm"])
            for mine, theirs in (
                (self.server_closes, report.get("server_closes", {})),
                (self.protocol_errors, report.get("protocol_errors", {})),
            ):
                for code, n in theirs.items():
                    mine[code] = mine.get(code, 0) + int(n)
            for f in fields(Totals):
                setattr(
                    self.totals, f.name, getattr(self.totals, f.name) + int(totals.get(f.name, 0))
                )
            self.fanout_recorded += int(totals.get("fanout_recorded", 0))

    def intervals(self, start_s: int) -> list[tuple[int, Second]]:
        """(seconds since start, second) for every second from the start to the last one."""
        if not self.seconds:
            return []
        first = min(start_s, *self.seconds)
        last = max(self.seconds)
        return [
            (sec - start_s, self.seconds.get(sec) or Second()) for sec in range(first, last + 1)
        ]

    def results(self, start_s: int, config: dict[str, Any]) -> dict[str, Any]:
        """results.json (validated as harness.results.LoadResults)."""
        secs = self.intervals(start_s)
        by_size: dict[int, HdrHistogram] = {}
        for _, second in secs:
            for size, h in second.fanout.items():
                by_size.setdefault(size, hist.new_histogram()).add(h)
        fanout = hist.merged(list(by_size.values()))
        rtt = hist.merged([second.rtt for _, second in secs])
        connect = hist.merged([second.connect for _, second in secs])
        t = self.totals
        rows = [_row(offset, second) for offset, second in secs]
        doc: dict[str, Any] = {
            "schema": LOAD_SCHEMA,
            "fanout_latency_us": hist.summary(fanout),
            "rtt_latency_us": hist.summary(rtt),
            "connect_latency_us": hist.summary(connect),
            "deliveries": {k: getattr(t, k) for k in _DELIVERY_KEYS},
            "cleanup": {k: getattr(t, k) for k in _CLEANUP_KEYS},
            "connections": self._connections(rows),
            "sends": _sends(rows),
            "timeseries": rows,
            "config": config,
            "generator": _generator(secs),
            "by_room_size": (
                {str(s): hist.summary(h) for s, h in sorted(by_size.items())}
                if len(by_size) > 1
                else {}
            ),
            "fanout_hdr": hist.encode(fanout),
            "rtt_hdr": hist.encode(rtt),
            "connect_hdr": hist.encode(connect),
            "storm": summarize(self.storms, start_s),
            "per_process": self.per_process,
        }
        doc["broken"] = broken_reasons(LoadResults.model_validate(doc))
        return doc

    def _connections(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        t = self.totals
        return {
            "errors": sum(row["connect_errors"] for row in rows),
            "first_errors": self.connect_errors[:5],
            "opened": t.opened,
            "welcomed": t.welcomes,
            "server_closes": dict(sorted(self.server_closes.items())),
            "lost": t.connections_lost,
            "protocol_errors": dict(sorted(self.protocol_errors.items())),
            "first_protocol_errors": self.protocol_reasons[:5],
            "reconnects": t.reconnects,
            "under_planned_s": sum(1 for row in rows if row["under_planned"]),
            "harness_errors": t.harness_errors,
            "users": t.users,
            "users_ended_by_server": t.users_ended_by_server,
        }


def _sends(rows: list[dict[str, Any]]) -> dict[str, int]:
    sent, unsent = sum(row["sent"] for row in rows), sum(row["unsent"] for row in rows)
    return {"scheduled": sent + unsent, "sent": sent, "unsent": unsent}


_DELIVERY_KEYS = (
    "expected",
    "delivered",
    "lost",
    "duplicated",
    "out_of_order",
    "leaked",
    "replayed",
    "foreign",
)
_CLEANUP_KEYS = ("abrupt_disconnects", "leave_missing", "online_mismatches", "welcome_missing")


def _row(offset: int, second: Second) -> dict[str, Any]:
    s = hist.summary(second.fanout_all())
    return {
        "t": float(offset),
        **second.counts,
        "connections": second.connections,
        "under_planned": second.under_planned,
        "p50": s["p50"],
        "p90": s["p90"],
        "p99": s["p99"],
        "max": s["max"],
        "cpu": round(second.cpu, 1),
        "saturated": second.saturated,
    }


def _generator(secs: list[tuple[int, Second]]) -> dict[str, Any]:
    cpu = max((second.cpu for _, second in secs), default=0.0)
    saturated_s = [float(offset) for offset, second in secs if second.saturated]
    return {
        "cpu_max": round(cpu, 1),
        "saturated": bool(saturated_s),
        "saturated_seconds": saturated_s,
        "threshold_cpu": SATURATION_CPU,
    }


def write_outputs(out: Path, doc: dict[str, Any], agg: Aggregate, start_s: int) -> None:
    """results.json and fanout.hlog (one interval histogram per second) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    with (out / "fanout.hlog").open("w") as handle:
        writer = HistogramLogWriter(handle)
        writer.output_log_format_version()
        # hdrh's output_start_time is broken (treats ms as s); the line it means to write:
        stamp = datetime.fromtimestamp(start_s, UTC).isoformat(" ")
        handle.write(f"#[StartTime: {start_s:.3f} (seconds since epoch), {stamp}]\n")
        writer.output_legend()
        for offset, second in agg.intervals(start_s):
            h = second.fanout_all()
            # relative stamps: the writer falls back on them when a start of 0.0 is passed
            h.set_start_time_stamp(offset * 1000)
            h.set_end_time_stamp((offset + 1) * 1000)
            writer.output_interval_histogram(h, float(offset), float(offset + 1), 1000.0)


def totals_dict(t: Totals) -> dict[str, int]:
    """`t` as a plain dict."""
    return asdict(t)
