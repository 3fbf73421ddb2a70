"""Write the recorded results in tests/reports/data/ (run once; the files are kept in git).

    .venv/bin/python tests/reports/make_data.py

A seeded latency model stands in for a real `chatbench load` run: two room sizes (10 and 100
members), a latency spike at 12-14 s with lost, duplicated and out-of-order deliveries, churn
bursts at 8 s and 22 s, and one second (20 s) where the load generator saturated. `run_base`
carries the whole-run histogram in results.json; `run_worse` (slower, more losses) leaves
fanout_hdr empty so the report must merge fanout.hlog. check.json is a conformance result with
passes, a skip, an error and failures with transcripts.

Two more runs carry the figures of the server and of reconnects (make_telemetry.py):
`run_server` has server telemetry of a leaking server (memory and descriptors grow with every
churned connection), churn every other second and a drain after the sends stop; `run_storm`
(another shape: more users, a higher rate) drops every connection at 20 s:

    .venv/bin/python tests/reports/make_telemetry.py
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogWriter

from harness.load.hist import summary

DATA = Path(__file__).parent / "data"
SECONDS = 30
ROOMS = {10: 2, 100: 1}  # room size -> number of rooms
SENDS_PER_ROOM = {10: 10, 100: 4}  # messages per second per room
SPIKE = range(12, 15)
CHURN = {8: 6, 22: 9}  # second -> abrupt disconnects
SATURATED = {20}
LEDGER = {  # second -> ledger events in that second
    12: {"lost": 2, "out_of_order": 1},
    13: {"lost": 4, "duplicated": 1, "out_of_order": 2},
    14: {"lost": 1},
    22: {"leave_missing": 1},
}


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, 60_000_000, 3)


def latency_us(rng: random.Random, size: int, t: int, slowdown: float) -> int:
    """One fan-out latency: lognormal, larger rooms slower, inflated in the spike and saturation."""
    median = (1_500 if size == 10 else 4_000) * slowdown
    if t in SPIKE:
        median *= 12
    if t in SATURATED:
        median *= 3
    return max(1, int(rng.lognormvariate(0, 0.45) * median))


def connections_at(t: int) -> int:
    full = sum(size * n for size, n in ROOMS.items())
    ramp = min(1.0, (t + 1) / 5)
    churned = sum(n for s, n in CHURN.items() if s <= t < s + 3)
    return int(full * ramp) - churned


def simulate(seed: int, slowdown: float, extra_lost: int) -> dict[str, Any]:
    """Per-second histograms and timeseries rows of one run."""
    rng = random.Random(seed)
    whole, rtt, by_size = new_histogram(), new_histogram(), {s: new_histogram() for s in ROOMS}
    intervals, rows = [], []
    for t in range(SECONDS):
        interval = new_histogram()
        interval.set_start_time_stamp(t * 1000)
        interval.set_end_time_stamp((t + 1) * 1000)
        ramp = min(1.0, (t + 1) / 5)
        sent = delivered = 0
        for size, rooms in ROOMS.items():
            for _ in range(int(rooms * SENDS_PER_ROOM[size] * ramp)):
                sent += 1
                rtt.record_value(latency_us(rng, size, t, slowdown * 0.8))
                for _ in range(size):
                    value = latency_us(rng, size, t, slowdown)
                    for h in (interval, whole, by_size[size]):
                        h.record_value(value)
                    delivered += 1
        events = dict(LEDGER.get(t, {}))
        if t in SPIKE and extra_lost:
            events["lost"] = events.get("lost", 0) + extra_lost
        rows.append(row(t, sent, delivered, interval, events))
        intervals.append(interval)
    return {"whole": whole, "rtt": rtt, "by_size": by_size, "intervals": intervals, "rows": rows}


def row(t: int, sent: int, delivered: int, h: HdrHistogram, events: dict[str, int]) -> dict:
    return {
        "t": float(t),
        "sent": sent,
        "delivered": delivered - events.get("lost", 0),
        "connections": connections_at(t),
        "p50": h.get_value_at_percentile(50),
        "p90": h.get_value_at_percentile(90),
        "p99": h.get_value_at_percentile(99),
        "max": h.get_max_value(),
        "lost": events.get("lost", 0),
        "duplicated": events.get("duplicated", 0),
        "out_of_order": events.get("out_of_order", 0),
        "leave_missing": events.get("leave_missing", 0),
        "abrupt_disconnects": CHURN.get(t, 0),
        "saturated": t in SATURATED,
    }


def results(sim: dict[str, Any], embed_hdr: bool) -> dict[str, Any]:
    rows = sim["rows"]
    total = {k: sum(r[k] for r in rows) for k in ("lost", "duplicated", "out_of_order")}
    delivered = sum(r["delivered"] for r in rows)
    fanout = summary(sim["whole"])
    return {
        "schema": "chatbench.load/1",
        "fanout_latency_us": fanout,
        "rtt_latency_us": summary(sim["rtt"]),
        "deliveries": {
            "expected": delivered + total["lost"],
            "delivered": delivered,
            **total,
            "leaked": 0,
        },
        "cleanup": {
            "abrupt_disconnects": sum(CHURN.values()),
            "leave_missing": sum(r["leave_missing"] for r in rows),
            "online_mismatches": 0,
        },
        "timeseries": rows,
        "config": {
            "url": "ws://127.0.0.1:8765",
            "users": sum(s * n for s, n in ROOMS.items()),
            "room_sizes": [10, 10, 100],
            "duration_s": SECONDS,
            "churn": "6 at 8 s, 9 at 22 s",
            "seed": 7,
        },
        "generator": {"cpu_max": 97.5, "saturated": True},
        "slo": [
            {"expr": "p99<100ms", "value": fanout["p99"] / 1000, "ok": fanout["p99"] < 100_000},
            {"expr": "lost==0", "value": total["lost"], "ok": total["lost"] == 0},
        ],
        "by_room_size": {str(s): summary(h) for s, h in sim["by_size"].items()},
        "fanout_hdr": sim["whole"].encode().decode() if embed_hdr else "",
        "rtt_hdr": sim["rtt"].encode().decode(),
    }


def write_run(name: str, seed: int, slowdown: float, extra_lost: int, embed_hdr: bool) -> None:
    sim = simulate(seed, slowdown, extra_lost)
    out = DATA / name
    out.mkdir(parents=True, exist_ok=True)
    doc = results(sim, embed_hdr)
    (out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    with (out / "fanout.hlog").open("w") as handle:
        writer = HistogramLogWriter(handle)
        writer.output_log_format_version()
        writer.output_legend()
        for t, interval in enumerate(sim["intervals"]):
            writer.output_interval_histogram(interval, float(t), float(t + 1), 1000.0)
    write_locust_csv(out / "locust_stats.csv", doc)


def write_locust_csv(path: Path, doc: dict[str, Any]) -> None:
    rtt = doc["rtt_latency_us"]
    fields = ["Type", "Name", "Request Count", "Failure Count", "Median Response Time"]
    fields += ["Average Response Time", "Max Response Time", "Requests/s", "99%"]
    sent = sum(r["sent"] for r in doc["timeseries"])
    rows = [
        ["WS", "send", sent, 0, rtt["p50"] / 1000, rtt["mean"] / 1000, rtt["max"] / 1000],
        ["", "Aggregated", sent, 0, rtt["p50"] / 1000, rtt["mean"] / 1000, rtt["max"] / 1000],
    ]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        for r in rows:
            writer.writerow([*r, round(sent / SECONDS, 2), rtt["p99"] / 1000])


def transcript() -> list[dict[str, Any]]:
    msg = '{"type": "message", "user": "alice", "text": "hi \\u00e9", "room": "r1"}'
    return [
        {"t": 0.0, "client": "alice", "dir": "open", "data": "ws://127.0.0.1:8765/ws/chat/r1"},
        {"t": 0.01, "client": "alice", "dir": "recv", "data": '{"type": "welcome", "online": 1}'},
        {"t": 0.02, "client": "alice", "dir": "send", "data": '{"text": "hi \\u00e9"}'},
        {"t": 0.03, "client": "alice", "dir": "recv", "data": msg.replace("\\u00e9", "e")},
        {"t": 0.03, "client": "alice", "dir": "note", "data": "text differs: 'hi e' != 'hi é'"},
        {"t": 0.04, "client": "alice", "dir": "close", "code": 1000},
    ]


def case(id_: str, level: str, section: str, title: str, verdict: str, **extra: Any) -> dict:
    base = {"id": id_, "level": level, "section": section, "title": title, "verdict": verdict}
    return {**base, "duration_s": 0.05, **extra}


def write_check() -> None:
    failure = {"url": "ws://127.0.0.1:8765", "transcript": transcript()}
    cases = [
        case("join.welcome", "MUST", "3", "first frame is welcome with room and online", "pass"),
        case("message.roundtrip", "MUST", "4", "text relayed exactly", "fail", **failure,
             reason="text changed in transit", expected="hi é", observed="hi e"),
        case("input.error-event", "SHOULD", "7", "invalid frames answered with an error event",
             "fail", reason="no error event within 2 s", expected='{"type": "error"}',
             observed="nothing", transcript=transcript()[:3]),
        case("leave.half-open", "SHOULD", "6", "silent half-open member dropped within 30 s",
             "skip", reason="needs --slow"),
        case("flow.concurrency", "MUST", "9", "online counts consistent after a join/leave storm",
             "error", reason="harness error: TimeoutError"),
    ]  # fmt: skip
    doc = {
        "schema": "chatbench.check/1",
        "urls": ["ws://127.0.0.1:8765"],
        "started": "2026-11-25T10:00:00Z",
        "duration_s": 4.2,
        "strict": False,
        "exit_code": 1,
        "summary": {"passed": 1, "failed": 2, "errors": 1, "skipped": 1},
        "cases": cases,
    }
    (DATA / "check.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


def main() -> None:
    write_run("run_base", seed=1, slowdown=1.0, extra_lost=0, embed_hdr=True)
    write_run("run_worse", seed=2, slowdown=1.4, extra_lost=5, embed_hdr=False)
    write_check()


if __name__ == "__main__":
    main()
