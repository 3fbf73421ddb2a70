import pytest

from reports.compare import compare, parse_threshold


def with_changes(run, p99_factor=1.0, **counters):
    """A copy of the run's results with p99 scaled and problem counters set."""
    r = run.results
    fanout = r.fanout_latency_us.model_copy(update={"p99": r.fanout_latency_us.p99 * p99_factor})
    deliveries = r.deliveries.model_copy(
        update={k: v for k, v in counters.items() if hasattr(r.deliveries, k)}
    )
    cleanup = r.cleanup.model_copy(
        update={k: v for k, v in counters.items() if hasattr(r.cleanup, k)}
    )
    return r.model_copy(
        update={"fanout_latency_us": fanout, "deliveries": deliveries, "cleanup": cleanup}
    )


def test_equal_runs_do_not_regress(base_run):
    result = compare(base_run.results, base_run.results, 10)
    assert not result.regressed
    assert result.verdict() == ("OK: p99 +0.0% (threshold 10%), no new delivery problems")
    assert all(d.abs == 0 for d in result.deltas)


def test_p99_growth_is_judged_against_the_threshold(base_run):
    slower = with_changes(base_run, p99_factor=1.15)
    assert not compare(base_run.results, slower, 20).regressed
    result = compare(base_run.results, slower, 10)
    assert result.regressed
    assert result.verdict() == "REGRESSION: p99 +15.0% (threshold 10%)"
    p99 = next(d for d in result.deltas if d.name == "p99")
    assert p99.regressed and p99.rel == pytest.approx(0.15)


def test_faster_p99_is_fine(base_run):
    assert not compare(base_run.results, with_changes(base_run, p99_factor=0.5), 0).regressed


@pytest.mark.parametrize(
    "counter",
    ["lost", "duplicated", "out_of_order", "leaked", "leave_missing", "online_mismatches"],
)
def test_any_increase_of_a_problem_counter_regresses(base_run, counter):
    base = base_run.results
    before = {**base.deliveries.model_dump(), **base.cleanup.model_dump()}[counter]
    result = compare(base, with_changes(base_run, **{counter: before + 1}), 10)
    assert result.regressed
    assert result.reasons == [f"{counter} {before} -> {before + 1}"]


def test_fewer_problems_is_not_a_regression(base_run):
    assert not compare(base_run.results, with_changes(base_run, lost=0), 10).regressed


def test_delta_cells_show_absolute_and_relative_change(base_run, worse_run):
    result = compare(base_run.results, worse_run.results, 10)
    cells = {d.name: d.cells() for d in result.deltas}
    assert cells["lost"] == ["lost", "7", "22", "+15", "+214.3%"]
    assert cells["leaked"] == ["leaked", "0", "0", "+0", "—"]
    assert cells["p99"][0:2] == ["p99", "76.4 ms"] and cells["p99"][4] == "+45.6%"
    assert [d.name for d in result.deltas][:5] == ["p50", "p90", "p99", "p99.9", "max"]


@pytest.mark.parametrize(("text", "pct"), [("10", 10.0), ("10%", 10.0), (" 2.5% ", 2.5), ("0", 0)])
def test_parse_threshold(text, pct):
    assert parse_threshold(text) == pct


@pytest.mark.parametrize("text", ["", "ten", "-1", "nan", "5%%"])
def test_parse_threshold_rejects(text):
    with pytest.raises(ValueError):
        parse_threshold(text)


def delivered_nothing(run):
    """The run's results as if the server had accepted every connection and never relayed."""
    r = run.results
    empty = type(r.fanout_latency_us)()
    deliveries = r.deliveries.model_copy(update={"expected": 0, "delivered": 0, "lost": 0})
    return r.model_copy(
        update={"fanout_latency_us": empty, "rtt_latency_us": empty, "deliveries": deliveries}
    )


def test_a_new_run_that_delivered_nothing_fails(base_run):
    result = compare(base_run.results, delivered_nothing(base_run), 10)
    assert result.regressed
    sent = sum(row.sent for row in base_run.results.timeseries)
    assert result.verdict().startswith(
        f"FAIL: NEW is broken: no delivery was expected ({sent:,} messages sent); "
        "nothing was delivered"
    )


def test_a_base_run_that_delivered_nothing_is_nothing_to_compare_with(base_run):
    result = compare(delivered_nothing(base_run), base_run.results, 10)
    assert result.regressed
    assert result.verdict().startswith("FAIL: BASE is broken: no delivery was expected")


def with_connections(run, sends=None, replayed=None, **connections):
    r = run.results
    update = {"connections": r.connections.model_copy(update=connections)}
    if sends is not None:
        update["sends"] = r.sends.model_copy(update=sends)
    if replayed is not None:
        update["deliveries"] = r.deliveries.model_copy(update={"replayed": replayed})
    return r.model_copy(update=update)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"server_closes": {"1011": 12}}, "server_closes 0 -> 12"),
        ({"lost": 3}, "connections_lost 0 -> 3"),
        ({"sends": {"unsent": 40}}, "unsent 0 -> 40"),
    ],
)
def test_more_connections_ended_by_the_server_regress(base_run, change, reason):
    result = compare(base_run.results, with_connections(base_run, **change), 10)
    assert result.regressed and result.reasons == [reason]
    assert result.verdict() == f"REGRESSION: {reason}"


def test_more_replayed_history_or_reconnects_alone_is_not_a_regression(base_run):
    new = with_connections(base_run, replayed=500, reconnects=4)
    result = compare(base_run.results, new, 10)
    assert not result.regressed
    cells = {d.name: d.cells() for d in result.deltas}
    assert cells["replayed"][:3] == ["replayed", "0", "500"]
    assert cells["reconnects"][:3] == ["reconnects", "0", "4"]


def test_a_new_run_whose_server_broke_the_protocol_fails(base_run):
    result = compare(base_run.results, with_connections(base_run, protocol_errors={"1009": 1}), 10)
    assert result.verdict() == (
        "FAIL: NEW is broken: the server broke the WebSocket protocol on 1 connection "
        "(1009 x1); protocol_errors 0 -> 1"
    )
