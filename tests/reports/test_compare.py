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


def test_runs_of_one_shape_get_no_warning(base_run, worse_run):
    assert compare(base_run.results, worse_run.results, 10).warnings == []
    assert compare(base_run.results, base_run.results, 10).warnings == []


@pytest.mark.parametrize(
    ("change", "difference"),
    [
        ({"users": 240}, "users 120 vs 240"),
        ({"rooms": 4}, "rooms not recorded vs 4"),
        ({"rate": 2.5}, "rate not recorded vs 2.5"),
        ({"duration_s": 60}, "duration (s) 30 vs 60"),
        ({"profile": {"source": "socketio"}}, "profile not recorded vs socketio"),
    ],
)
def test_runs_of_different_shapes_are_warned_about(base_run, change, difference):
    r = base_run.results
    other = r.model_copy(update={"config": {**r.config, **change}})
    result = compare(r, other, 10)
    (warning,) = result.warnings
    assert warning == (
        f"BASE and NEW differ in shape ({difference}): their totals are not comparable and "
        "their latencies only roughly; compare runs of one shape"
    )
    assert not result.regressed  # a warning, not a verdict


def test_same_profile_source_is_one_shape_whatever_else_the_profile_records(base_run):
    r = base_run.results
    a = r.model_copy(update={"config": {**r.config, "profile": {"source": "v1", "pid": 1}}})
    b = r.model_copy(update={"config": {**r.config, "profile": {"source": "v1", "pid": 2}}})
    assert compare(a, b, 10).warnings == []


@pytest.fixture(scope="module")
def server_results():
    from reports import data
    from tests.reports.conftest import DATA

    return data.load_run(DATA / "run_server").results


def leak(results, **update):
    server = results.server.model_copy(
        update={"leak": results.server.leak.model_copy(update=update)}
    )
    return results.model_copy(update={"server": server})


def test_server_figures_are_compared(server_results):
    cleaner = leak(server_results, verdict="none", bytes_per_churned_conn=120.0, fd_growth=0)
    result = compare(cleaner, server_results, 10)
    cells = {d.name: d.cells() for d in result.deltas}
    assert cells["bytes per churned connection"][1:3] == ["120 B", "48.2 KiB"]
    assert cells["server fd growth"][1:4] == ["0", "78", "+78"]
    cpu = max(s.cpu for s in server_results.server.timeseries)
    assert cells["server CPU max"][1:4] == [f"{cpu:.0f}%", f"{cpu:.0f}%", "+0%"]
    assert cells["server RSS max"][3] == "+0 B"
    assert ["server leak verdict", "none", "leak"] in result.facts
    assert result.regressed and result.reasons == ["server leak: none -> leak"]
    assert next(d for d in result.deltas if d.name == "bytes per churned connection").regressed


def test_a_leak_in_both_runs_or_an_unknown_one_is_no_new_regression(server_results):
    assert not compare(server_results, server_results, 10).regressed
    unknown = leak(server_results, verdict="unknown", bytes_per_churned_conn=None)
    result = compare(server_results, unknown, 10)
    assert not result.regressed
    assert ["server leak verdict", "leak", "unknown"] in result.facts
    cells = {d.name: d.cells() for d in result.deltas}
    assert cells["bytes per churned connection"][2:4] == ["—", "—"]


def test_a_run_without_server_telemetry_compares_as_not_measured(base_run, server_results):
    result = compare(base_run.results, server_results, 10)
    cells = {d.name: d.cells() for d in result.deltas}
    assert cells["server CPU max"][1] == "—" and cells["server CPU max"][4] == "—"
    assert ["server leak verdict", "no server telemetry", "leak"] in result.facts
    assert "server leak: no server telemetry -> leak" in result.reasons
    assert "server CPU max" not in {
        d.name for d in compare(base_run.results, base_run.results, 10).deltas
    }


def test_connect_latency_and_storm_recovery_are_compared(server_results):
    from reports import data
    from tests.reports.conftest import DATA

    storm = data.load_run(DATA / "run_storm").results
    result = compare(server_results, storm, 10)
    cells = {d.name: d.cells() for d in result.deltas}
    assert cells["connect p99"][1:3] == ["8.35 ms", "67.2 ms"]
    assert cells["storm: 99% back after"][1:3] == ["—", "3.4 s"]
    assert ["reconnect storm", "none", "200 dropped at 20 s, all back after 5.2 s"] in result.facts
    assert result.warnings and "users 60 vs 200" in result.warnings[0]
    slower = storm.model_copy(update={"storm": storm.storm.model_copy(update={"back_100_s": None})})
    again = compare(storm, slower, 10)
    cells = {d.name: d.cells() for d in again.deltas}
    assert cells["storm: all back after"][1:4] == ["5.2 s", "—", "—"]
    assert ["reconnect storm", "200 dropped at 20 s, all back after 5.2 s",
            "200 dropped at 20 s, not all back"] in again.facts  # fmt: skip


def test_the_same_storm_is_one_shape_and_no_storm_in_either_is_too(base_run):
    r = base_run.results
    storm = {"at_s": 5.0, "cause": "drop", "backoff_base_s": 0.5}
    a = r.model_copy(update={"config": {**r.config, "storm": storm}})
    b = r.model_copy(update={"config": {**r.config, "storm": {**storm, "backoff_base_s": 1}}})
    assert compare(a, b, 10).warnings == []
    none = r.model_copy(update={"config": {**r.config, "storm": None}})
    assert compare(none, r, 10).warnings == []  # null and absent (older results) alike


def test_a_storm_at_another_time_is_another_shape():
    from reports import data
    from tests.reports.conftest import DATA

    r = data.load_run(DATA / "run_storm").results
    later = r.model_copy(
        update={
            "config": {**r.config, "storm": {**r.config["storm"], "at_s": 30.0}},
            "storm": r.storm.model_copy(update={"at_s": 30.0}),
        }
    )
    result = compare(r, later, 10)
    (warning,) = result.warnings
    assert "(storm drop at 20 s vs drop at 30 s)" in warning
    assert not result.broken
    plain = r.model_copy(update={"config": {k: v for k, v in r.config.items() if k != "storm"}})
    assert "storm none vs drop at 20 s" in compare(plain, r, 10).warnings[0]
