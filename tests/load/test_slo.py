"""SLO gates."""

import pytest

from harness.errors import UsageError
from harness.load.slo import judge_all, parse_slo

RESULTS = {
    "fanout_latency_us": {"p50": 1000, "p99": 40_000, "max": 90_000},
    "rtt_latency_us": {"p99": 25_000},
    "deliveries": {"lost": 0, "duplicated": 2},
    "cleanup": {"leave_missing": 1},
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
    assert verdict == {"expr": expr.strip(), "value": pytest.approx(value), "ok": ok}


@pytest.mark.parametrize("expr", ["p99<50", "lost==0ms", "p42<1ms", "p99 about 5ms", "x"])
def test_bad_gates_are_usage_errors(expr):
    with pytest.raises(UsageError):
        parse_slo(expr)
