"""The leak fit on synthetic runs: a leak is called, allocator noise is not, and too little
data is `unknown` with the reason (never `none`)."""

import random

import pytest

from harness.load import leak

SPAN = (3.0, 10.0)


def rows(per_second: int, seconds: int = 11) -> list[dict]:
    """Timeseries rows: `per_second` abrupt drops each second of the send phase (t < 8)."""
    return [
        {"t": float(t), "abrupt_disconnects": per_second if t < 8 else 0} for t in range(seconds)
    ]


def series(rows_, per_conn: float, noise: float = 0, step_at: float | None = None, seed=1):
    """Server samples every 0.25 s: a base, `per_conn` bytes per churned connection, noise."""
    rng = random.Random(seed)
    out = [{"t": -0.5, "rss_bytes": 50_000_000, "fds": 10}]
    for k in range(50):
        t = k * 0.25
        rss = 50_000_000 + per_conn * leak.churned_at(rows_, t) + rng.uniform(-noise, noise)
        if step_at is not None and t >= step_at:
            rss += 400_000  # the heap grew once, as allocators do
        out.append({"t": t, "rss_bytes": int(rss), "fds": 10})
    return out


def test_churned_at_spreads_a_seconds_count_over_it():
    r = rows(10)
    assert leak.churned_at(r, 0) == 0
    assert leak.churned_at(r, 1.5) == pytest.approx(15)
    assert leak.churned_at(r, 20) == 80


def test_a_leak_of_64_kib_per_connection_is_found_with_its_size():
    r = rows(20)
    v = leak.verdict(series(r, 65536, noise=200_000), r, SPAN, 10)
    assert v["verdict"] == "leak", v
    assert v["bytes_per_churned_conn"] == pytest.approx(65536, rel=0.1)
    assert 0 < v["ci95_bytes"] < 20_000
    assert v["churned_connections"] == 100 and v["fd_growth"] == 0


def test_flat_memory_with_a_step_and_noise_is_no_leak():
    r = rows(20)
    v = leak.verdict(series(r, 0, noise=100_000, step_at=6.0), r, SPAN, 10)
    assert v["verdict"] == "none", v
    assert v["bytes_per_churned_conn"] + v["ci95_bytes"] < leak.FLOOR_BYTES


def test_a_small_churn_with_big_noise_is_inconclusive_not_none():
    r = rows(5)
    v = leak.verdict(series(r, 0, noise=2_000_000), r, SPAN, 10)
    assert v["verdict"] == "unknown" and v["reason"].startswith("inconclusive"), v


def test_without_churn_the_verdict_is_unknown_with_the_reason():
    r = rows(0)
    v = leak.verdict(series(r, 0), r, SPAN, 10)
    assert v["verdict"] == "unknown" and "--churn" in v["reason"]
    assert "bytes_per_churned_conn" not in v


def test_too_few_samples_is_unknown():
    r = rows(20)
    samples = series(r, 65536)[::12]
    v = leak.verdict(samples, r, SPAN, 10)
    assert v["verdict"] == "unknown" and "samples" in v["reason"]


def test_no_memory_figure_is_unknown():
    r = rows(20)
    samples = [{"t": s["t"], "rss_bytes": None, "fds": 10} for s in series(r, 65536)]
    v = leak.verdict(samples, r, SPAN, 10)
    assert v["verdict"] == "unknown" and "memory" in v["reason"]


def test_fd_growth_is_after_the_run_minus_before_and_unknown_if_the_server_went_early():
    r = rows(20)
    samples = series(r, 0)
    samples[-1]["fds"] = 25
    assert leak.verdict(samples, r, SPAN, 10)["fd_growth"] == 15
    assert leak.verdict(samples[:20], r, SPAN, 10)["fd_growth"] is None
    assert leak.verdict(samples, r, SPAN, None)["fd_growth"] is None


def test_window_is_ramp_plus_warmup_to_the_end_of_the_drain():
    doc = {"config": {"duration_s": 8, "users": 40, "spawn_rate": 40, "drain_s": 2}}
    assert leak.window(doc) == (3.0, 10.0)
    doc["config"].update(duration_s=60, spawn_rate=10)
    assert leak.window(doc) == (19.0, 62.0)


@pytest.mark.parametrize(("df", "expected"), [(3, 3.182), (10, 2.228), (30, 2.042), (1000, 1.962)])
def test_t_quantile(df, expected):
    assert leak.t_quantile(0.975, df) == pytest.approx(expected, rel=0.01)
