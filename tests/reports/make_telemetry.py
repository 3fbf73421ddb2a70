"""Write tests/reports/data/run_server and run_storm (run once; the files are kept in git).

    .venv/bin/python tests/reports/make_telemetry.py

Fabricated, seeded runs with the figures of harness/results.py that `chatbench load` grows
(connect latency, connects per second, a reconnect storm, server telemetry with a leak verdict):

- run_server: 60 users in 6 rooms of 10, 36 s of sends then a 4 s drain (no deliveries: the
  latency lines must end in a gap). 6 users churn every other second from 6 s to 30 s. The
  server keeps every churned socket: RSS grows 48 KiB and one descriptor per churned
  connection, its own connection count drifts above the clients'. Its CPU passes one core in
  12-14 s (a latency spike); the generator saturates at 25 s; the sample at 17 s failed.
- run_storm: 200 users in 10 rooms of 20 (another shape), every connection dropped at 20 s and
  back within 5.2 s (99% in 3.4 s), with refused and 503 handshakes; no server telemetry.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.load.hist import summary

DATA = Path(__file__).parent / "data"
KIB = 1024
MIB = 1024 * 1024
LEAK_PER_CONN = 48 * KIB


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, 60_000_000, 3)


def record(h: HdrHistogram, rng: random.Random, median_us: float, n: int) -> None:
    for _ in range(n):
        h.record_value(max(1, int(rng.lognormvariate(0, 0.4) * median_us)))


def latency_row(t: int, sent: int, room: int, h: HdrHistogram, **counts: Any) -> dict[str, Any]:
    """One timeseries row; a second without a delivery has zero percentiles, as chatbench
    writes it (the report must draw a gap there)."""
    got = h.get_total_count() > 0
    p = {q: h.get_value_at_percentile(v) if got else 0 for q, v in PCTS.items()}
    return {"t": float(t), "sent": sent, "delivered": sent * room, **p, **counts}


PCTS = {"p50": 50, "p90": 90, "p99": 99}


def server_run(seed: int = 3) -> dict[str, Any]:
    rng = random.Random(seed)
    whole, rtt, connect = new_histogram(), new_histogram(), new_histogram()
    rows, samples = [], []
    churned = 0
    for t in range(40):
        second = new_histogram()
        sending = t < 36
        connected = 60 if t >= 5 else 12 * (t + 1)
        churn = 6 if sending and 6 <= t <= 30 and t % 2 == 0 else 0
        rejoin = 6 if 7 <= t <= 31 and t % 2 == 1 else 0
        sent = (6 * 8 if t >= 5 else 8 * (t + 1)) if sending else 0
        median = 1_800 * (9 if 12 <= t <= 14 else 1) * (3 if t == 25 else 1)
        record(second, rng, median, sent * 9)
        record(rtt, rng, median * 0.8, sent)
        new_conns = (12 if t < 5 else 0) + rejoin
        record(connect, rng, 3_500, new_conns)
        whole.add(second)
        churned += churn
        row = latency_row(t, sent, 10, second, max=second.get_max_value())
        row.update(
            connections=connected - churn,
            abrupt_disconnects=churn,
            connects=new_conns,
            saturated=t == 25,
        )
        rows.append(row)
        if t != 17:
            samples.append(server_sample(rng, t, connected - churn, churned, sent))
    return {
        "rows": rows,
        "whole": whole,
        "rtt": rtt,
        "connect": connect,
        "samples": samples,
        "churned": churned,
    }


def server_sample(rng: random.Random, t: int, clients: int, churned: int, sent: int) -> dict:
    cpu = 3.0 if sent == 0 else 22 + sent * 0.6 + (60 if 12 <= t <= 14 else 0)
    rss = 40 * MIB + clients * 20 * KIB + churned * LEAK_PER_CONN + rng.randint(0, 256 * KIB)
    return {
        "t": t + 0.3,
        "cpu": round(cpu + rng.uniform(-2, 2), 1),
        "rss_bytes": rss,
        "fds": 12 + clients + churned,
        "connections": clients + churned,
        "metrics": {"chat_rooms": 6.0, "chat_messages_relayed_total": float(sent * 10 * t)},
    }


def server_results(sim: dict[str, Any]) -> dict[str, Any]:
    rows, whole = sim["rows"], sim["whole"]
    delivered = sum(r["delivered"] for r in rows)
    churned = sim["churned"]
    return {
        **common(rows, whole, sim["rtt"], sim["connect"], delivered),
        "cleanup": {"abrupt_disconnects": churned},
        "connections": {
            "opened": 60 + churned,
            "welcomed": 60 + churned,
            "users": 60,
            "reconnects": 0,
        },
        "config": shape(users=60, rooms=6, room_size=10, rate=8, duration_s=36, churn=0.1),
        "generator": {"cpu_max": 96.0, "saturated": True},
        "server": {
            "source": "pid 4242",
            "interval_s": 1.0,
            "timeseries": sim["samples"],
            "errors": ["sample at 17.3 s: timed out after 1.0 s"],
            "leak": {
                "verdict": "leak",
                "reason": f"RSS grew with the connections churned after warm-up ({churned})",
                "churned_connections": churned,
                "bytes_per_churned_conn": 49_310.0,
                "ci95_bytes": 2_950.0,
                "fd_growth": churned,
            },
        },
    }


def common(rows, whole, rtt, connect, delivered: int) -> dict[str, Any]:
    sent = sum(r["sent"] for r in rows)
    return {
        "schema": "chatbench.load/1",
        "fanout_latency_us": summary(whole),
        "rtt_latency_us": summary(rtt),
        "connect_latency_us": summary(connect),
        "deliveries": {"expected": delivered, "delivered": delivered},
        "sends": {"scheduled": sent, "sent": sent},
        "timeseries": rows,
        "fanout_hdr": whole.encode().decode(),
        "rtt_hdr": rtt.encode().decode(),
        "connect_hdr": connect.encode().decode(),
    }


def shape(**config: Any) -> dict[str, Any]:
    return {"url": "ws://127.0.0.1:8765", **config, "drain_s": 4, "profile": {"source": "v1"}}


STORM_BACK = {20: 0, 21: 90, 22: 170, 23: 198, 24: 199, 25: 200}  # second -> connected


def storm_run(seed: int = 4) -> dict[str, Any]:
    rng = random.Random(seed)
    whole, rtt, connect = new_histogram(), new_histogram(), new_histogram()
    rows, before = [], 0
    for t in range(43):
        connected = STORM_BACK.get(t, 200 if t >= 5 else 40 * (t + 1))
        new_conns = max(0, connected - before) if t != 20 else 0
        before = connected
        sending = t < 40 and t != 20
        sent = int(10 * 5 * min(1.0, connected / 200)) if sending else 0
        second = new_histogram()
        median = 2_200 * (4 if 21 <= t <= 23 else 1)
        record(second, rng, median, sent * 19)
        record(rtt, rng, median * 0.8, sent)
        record(connect, rng, 4_000 if t < 20 else 25_000, new_conns)
        whole.add(second)
        lost = {21: 14, 22: 9, 23: 3}.get(t, 0)
        row = latency_row(t, sent, 20, second, max=second.get_max_value(), lost=lost)
        row.update(
            connections=connected,
            connects=new_conns,
            reconnects=new_conns if t > 20 else 0,
            delivered=row["delivered"] - lost,
        )
        rows.append(row)
    return {"rows": rows, "whole": whole, "rtt": rtt, "connect": connect}


def storm_results(sim: dict[str, Any]) -> dict[str, Any]:
    rows = sim["rows"]
    delivered = sum(r["delivered"] for r in rows)
    doc = common(rows, sim["whole"], sim["rtt"], sim["connect"], delivered)
    doc["deliveries"] = {"expected": delivered + 26, "delivered": delivered, "lost": 26}
    doc["cleanup"] = {}
    doc["connections"] = {"opened": 400, "welcomed": 400, "users": 200, "reconnects": 200}
    storm = {"at_s": 20.0, "cause": "drop", "backoff_base_s": 0.5, "backoff_cap_s": 10.0}
    doc["config"] = shape(
        users=200, rooms=10, room_size=20, rate=5, duration_s=40, churn=0, storm=storm
    )
    doc["storm"] = {
        "at_s": 20.0,
        "cause": "drop",
        "dropped": 200,
        "back": 200,
        "back_99_s": 3.4,
        "back_100_s": 5.2,
        "failed_handshakes": {"refused": 140, "503": 37},
        "lost": 26,
        "left_owed": 190,
        "left_seen": 171,
        "joined_owed": 200,
        "joined_seen": 200,
    }
    return doc


def write(name: str, doc: dict[str, Any]) -> None:
    out = DATA / name
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")


def main() -> None:
    write("run_server", server_results(server_run()))
    write("run_storm", storm_results(storm_run()))


if __name__ == "__main__":
    main()
