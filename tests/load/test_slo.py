"""SLO gates."""

import pytest

from harness.errors import UsageError
from harness.load.slo import judge_all, parse_slo

RESULTS = {
    "fanout_latency_us": {"count": 100, "p50": 1000, "p99": 40_000, "max": 90_000},
    "rtt_latency_us": {"count": 10, "p99": 25_000},
    "deliveries": {"expected": 110, "lost": 0, "duplicated": 2},
    "cleanup": {"abrupt_disconnects": 3, "leave_missing": 1},
    "generator": {"cpu_max": 95.0},
}


@pytest.mark.parametrize(
    ("expr", "ok", "value"),
    [
        ("p99<50ms", True, 40.0),
        ("p99<30ms", False, 40.0),
        ("p50<=1000us", True, 1000.0),
        ("max < 0.1s", True, 0.09),
        ("rtt_p99<20ms", False, 25.0),
        ("lost==0", True, 0.0),
        ("duplicated==0", False, 2.0),
        ("leave_missing<1", False, 1.0),
        ("cpu_max<90", False, 95.0),
    ],
)
def test_gates(expr, ok, value):
    [verdict] = judge_all([parse_slo(expr)], RESULTS)
    assert verdict == {"expr": expr.strip(), "value": pytest.approx(value), "ok": ok, "reason": ""}


@pytest.mark.parametrize("expr", ["p99<50", "lost==0ms", "p0<1ms", "p99 about 5ms", "x"])
def test_bad_gates_are_usage_errors(expr):
    with pytest.raises(UsageError):
        parse_slo(expr)


EMPTY = {  # a server that accepted every connection and never spoke
    "fanout_latency_us": {"count": 0, "p50": 0, "p99": 0, "max": 0},
    "rtt_latency_us": {"count": 0, "p99": 0},
    "deliveries": {"expected": 0, "delivered": 0, "lost": 0, "duplicated": 0, "leaked": 0},
    "cleanup": {"abrupt_disconnects": 0, "leave_missing": 0, "welcome_missing": 6},
    "connections": {"opened": 6, "welcomed": 0},
    "generator": {"cpu_max": 3.0},
}


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("p99<50ms", "no fan-out latency sample"),
        ("max<1s", "no fan-out latency sample"),
        ("rtt_p99<20ms", "no round-trip sample"),
        ("lost==0", "no delivery was expected"),
        ("duplicated==0", "no delivery was expected"),
        ("leaked==0", "no delivery was expected"),
        ("leave_missing==0", "no abrupt disconnect"),
        ("online_mismatches==0", "no member was welcomed"),
    ],
)
def test_a_gate_over_an_empty_population_is_not_met(expr, why):
    [verdict] = judge_all([parse_slo(expr)], EMPTY)
    assert verdict["ok"] is False
    assert why in verdict["reason"]


@pytest.mark.parametrize("expr", ["expected>0", "delivered>=1", "cpu_max<90", "welcome_missing>0"])
def test_gates_on_the_population_itself_are_judged(expr):
    [verdict] = judge_all([parse_slo(expr)], EMPTY)
    assert verdict["reason"] == ""
    assert verdict["ok"] is ("cpu_max" in expr or "welcome_missing" in expr)


def test_a_judged_gate_has_no_reason():
    [verdict] = judge_all(
        [parse_slo("p99<50ms")], {**RESULTS, "fanout_latency_us": {"count": 9, "p99": 1}}
    )
    assert verdict == {"expr": "p99<50ms", "value": 0.001, "ok": True, "reason": ""}


NO_ECHO_NO_LEAVES = {
    **RESULTS,
    "config": {
        "profile": {
            "name": "relay",
            "not_judged": {
                "rtt": "the profile's server does not echo",
                "leave_missing": "the profile's server does not announce leaves",
            },
        }
    },
}


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("rtt_p99<50ms", "not judged: the profile's server does not echo"),
        ("rtt_max<1s", "not judged: the profile's server does not echo"),
        ("leave_missing==1", "not judged: the profile's server does not announce leaves"),
    ],
)
def test_a_gate_on_what_the_profile_does_not_claim_is_not_judged(expr, reason):
    [verdict] = judge_all([parse_slo(expr)], NO_ECHO_NO_LEAVES)
    assert verdict["ok"] is False and verdict["reason"] == reason


def test_gates_on_what_the_profile_claims_are_judged_as_ever():
    verdicts = judge_all([parse_slo("p99<50ms"), parse_slo("lost==0")], NO_ECHO_NO_LEAVES)
    assert [(v["ok"], v["reason"]) for v in verdicts] == [(True, ""), (True, "")]
    [rtt] = judge_all([parse_slo("rtt_p99<50ms")], RESULTS)  # no profile: protocol v1's rules
    assert rtt["ok"] is True and rtt["reason"] == ""


def test_any_percentile_is_read_from_the_histogram():
    from harness.load import hist

    h = hist.new_histogram()
    for us in range(1, 1001):  # 1 us .. 1 ms, evenly
        h.record_value(us * 1000 // 1000)
    doc = {
        **RESULTS,
        "fanout_latency_us": {"count": 1000, "p99": 990},
        "fanout_hdr": hist.encode(h),
    }
    [p95, p75, p9999] = judge_all(
        [parse_slo("p95<1ms"), parse_slo("p75 < 800us"), parse_slo("p9999<=1ms")], doc
    )
    assert p95["value"] == pytest.approx(0.95, rel=0.01) and p95["ok"]
    assert p75["value"] == pytest.approx(750, rel=0.01) and p75["ok"]
    assert p9999["value"] == pytest.approx(1.0, rel=0.01) and p9999["ok"]


def test_a_percentile_without_samples_is_not_judged():
    [verdict] = judge_all([parse_slo("p95<1ms")], {**RESULTS, "fanout_latency_us": {"count": 0}})
    assert not verdict["ok"] and verdict["reason"].startswith("not judged")


def _with_server(verdict="leak", b=70_000.0, ci=5_000.0, fd_growth=3):
    leak = {"verdict": verdict, "reason": "why", "bytes_per_churned_conn": b, "ci95_bytes": ci}
    leak["fd_growth"] = fd_growth
    samples = [{"t": 0, "cpu": 20.0, "rss_bytes": 10}, {"t": 1, "cpu": 55.5, "rss_bytes": 30}]
    return {**RESULTS, "server": {"source": "pid 1", "timeseries": samples, "leak": leak}}


STORMY = {
    **RESULTS,
    "connect_latency_us": {"count": 20, "p50": 210_000, "p99": 400_000, "max": 450_000},
    "storm": {
        "dropped": 20,
        "back": 20,
        "back_99_s": 3.5,
        "back_100_s": 4.25,
        "failed_handshakes": {"503": 7, "refused": 2},
        "lost": 1,
        "left_owed": 3,
        "left_seen": 3,
        "joined_owed": 10,
        "joined_seen": 8,
    },
}


@pytest.mark.parametrize(
    ("expr", "ok", "value"),
    [
        # < judges the upper end of the 95% interval, > the lower end
        ("server_bytes_per_churned_conn<80000", True, 75_000.0),
        ("server_bytes_per_churned_conn<72000", False, 75_000.0),
        ("server_bytes_per_churned_conn>66000", False, 65_000.0),
        ("server_fd_growth==0", False, 3.0),
        ("server_cpu_max<50", False, 55.5),
        ("server_rss_max<=30", True, 30.0),
    ],
)
def test_server_gates(expr, ok, value):
    [verdict] = judge_all([parse_slo(expr)], _with_server())
    assert verdict == {"expr": expr, "value": pytest.approx(value), "ok": ok, "reason": ""}


def test_a_leak_free_server_meets_the_server_gates():
    doc = _with_server("none", b=1_000.0, ci=2_000.0, fd_growth=0)
    gates = [parse_slo("server_bytes_per_churned_conn<16384"), parse_slo("server_fd_growth==0")]
    assert [v["ok"] for v in judge_all(gates, doc)] == [True, True]


@pytest.mark.parametrize(
    ("doc", "expr", "why"),
    [
        (RESULTS, "server_fd_growth==0", "no server telemetry"),
        (_with_server("unknown", b=None, ci=None), "server_bytes_per_churned_conn<1", "unknown"),
        # an inconclusive fit has a number, but no verdict: not judged either
        (
            _with_server("unknown", b=1.0, ci=1e6),
            "server_bytes_per_churned_conn<1000000000",
            "unknown",
        ),
        (_with_server(fd_growth=None), "server_fd_growth==0", "descriptors"),
    ],
)
def test_server_gates_that_cannot_be_judged_are_missed_with_the_reason(doc, expr, why):
    [verdict] = judge_all([parse_slo(expr)], doc)
    assert verdict["ok"] is False and why in verdict["reason"]


@pytest.mark.parametrize(
    ("expr", "ok", "value"),
    [
        ("connect_p99<500ms", True, 400.0),
        ("connect_p50<200ms", False, 210.0),
        ("connect_max<=0.45s", True, 0.45),
        ("connect_errors==0", True, 0.0),  # a counter, not a latency with prefix connect_
        ("reconnect_p99_s<4", True, 3.5),
        ("reconnect_p100_s<4", False, 4.25),
        ("storm_lost==0", False, 1.0),
        ("storm_failed_handshakes<10", True, 9.0),
        ("storm_left_missing==0", True, 0.0),
        ("storm_joined_missing==0", False, 2.0),
    ],
)
def test_connect_and_storm_gates(expr, ok, value):
    (verdict,) = judge_all([parse_slo(expr)], STORMY)
    assert (verdict["ok"], verdict["value"], verdict["reason"]) == (ok, pytest.approx(value), "")


@pytest.mark.parametrize(
    ("storm", "expr", "reason"),
    [
        (None, "reconnect_p100_s<10", "the run had no reconnect storm"),
        ({"dropped": 0, "back": 0}, "storm_lost==0", "the storm dropped no connection"),
        (
            {"dropped": 20, "back": 19, "back_99_s": 2.0, "back_100_s": None},
            "reconnect_p100_s<10",
            "not all the dropped users came back (19 of 20)",
        ),
        (
            {"dropped": 200, "back": 190, "back_99_s": None, "back_100_s": None},
            "reconnect_p99_s<10",
            "fewer than 99% of the dropped users came back (190 of 200)",
        ),
    ],
)
def test_a_storm_gate_without_a_storm_or_a_return_is_not_met(storm, expr, reason):
    (verdict,) = judge_all([parse_slo(expr)], {**RESULTS, "storm": storm})
    assert verdict["ok"] is False and verdict["reason"].startswith(f"not judged: {reason}")


def test_a_storm_gate_on_joins_the_profile_does_not_announce_is_not_judged():
    doc = {**STORMY, "config": {"profile": {"not_judged": {"joined": "no joins"}}}}
    (verdict,) = judge_all([parse_slo("storm_joined_missing==0")], doc)
    assert verdict["ok"] is False and verdict["reason"] == "not judged: no joins"


def test_connect_latency_needs_samples_and_a_unit():
    (verdict,) = judge_all([parse_slo("connect_p99<1s")], RESULTS)
    assert verdict["ok"] is False and "no connection came up" in verdict["reason"]
    with pytest.raises(UsageError, match="needs a unit"):
        parse_slo("connect_p99<500")
    with pytest.raises(UsageError, match="takes no unit"):
        parse_slo("reconnect_p100_s<10s")
