"""The server's figures, the leak verdict and the storm as text, in the page and the summary."""

import pytest

from harness.results import LeakVerdict, ServerTelemetry
from reports import markdown, page, telemetry
from tests.reports.conftest import DATA
from tests.reports.test_markdown import table_rows


@pytest.fixture(scope="module")
def server_results():
    from reports import data

    return data.load_run(DATA / "run_server").results


def with_leak(results, **leak):
    server = results.server.model_copy(update={"leak": LeakVerdict(**leak)})
    return results.model_copy(update={"server": server})


UNKNOWN = {"verdict": "unknown", "reason": "no churn after warm-up: nothing to fit"}
NONE = {"verdict": "none", "churned_connections": 400, "bytes_per_churned_conn": 35.0,
        "ci95_bytes": 610.0, "fd_growth": 0}  # fmt: skip


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0 B"), (512, "512 B"), (49_310, "48.2 KiB"), (47_300_000, "45.1 MiB"),
     (300 * 2**20, "300 MiB"), (1.5 * 2**30, "1.5 GiB"), (-2048, "-2 KiB")],
)  # fmt: skip
def test_sizes_are_in_binary_units(value, text):
    assert telemetry.size(value) == text


def test_a_leak_is_said_with_its_size_confidence_and_descriptors(server_results):
    leak = server_results.server.leak
    assert telemetry.leak_line(leak) == (
        "leak: 48.2 KiB ± 2.88 KiB (95% CI) per churned connection over 78 churned "
        "connections; descriptors +78"
    )
    assert telemetry.leak_kind(leak) == "bad"


def test_an_unknown_verdict_is_unknown_with_its_reason_never_no_leak():
    leak = LeakVerdict(**UNKNOWN)
    line = telemetry.leak_line(leak)
    assert line == "leak verdict unknown: no churn after warm-up: nothing to fit"
    assert "no leak" not in line and telemetry.leak_kind(leak) == "warn"
    rows = dict(telemetry.server_rows(ServerTelemetry(source="pid 1", leak=leak)))
    assert rows["leak verdict"] == "unknown"
    assert rows["why"] == UNKNOWN["reason"]
    assert rows["bytes retained per churned connection"] == "not measured"
    assert rows["descriptors left open after the run (fd growth)"] == "not measured"
    assert rows["CPU max (% of one core)"] == "not measured"  # no samples at all


def test_an_unknown_verdict_without_a_reason_still_says_unknown():
    assert telemetry.leak_line(LeakVerdict()) == "leak verdict unknown: no reason recorded"


def test_no_leak_is_said_only_for_verdict_none():
    leak = LeakVerdict(**NONE)
    assert telemetry.leak_line(leak) == (
        "no leak found: 35 B ± 610 B (95% CI) per churned connection over 400 churned "
        "connections; descriptors +0"
    )
    assert telemetry.leak_kind(leak) == "ok"
    assert telemetry.leak_kind(LeakVerdict(**{**NONE, "fd_growth": 12})) == "bad"


def test_server_rows_carry_the_peaks_and_failed_samples(server_results):
    rows = dict(telemetry.server_rows(server_results.server))
    samples = server_results.server.timeseries
    assert rows["source"] == "pid 4242"
    assert rows["samples"] == f"{len(samples)} (every 1 s)"
    assert rows["CPU max (% of one core)"] == f"{max(s.cpu for s in samples):.0f}%"
    assert rows["RSS max"] == telemetry.size(max(s.rss_bytes for s in samples))
    assert rows["open descriptors max"] == str(max(s.fds for s in samples))
    assert rows["failed samples (first)"] == "sample at 17.3 s: timed out after 1.0 s"


def test_page_and_summary_show_the_leak_in_badge_headline_and_table(server_results):
    html = page.badges(server_results) + "".join(page.server_section(server_results))
    assert '<span class="badge bad">server: leak: 48.2 KiB' in html
    assert "Server under test" in html and "pid 4242" in html
    text = markdown.load_summary(server_results)
    assert "❌ server leak: 48.2 KiB ± 2.88 KiB (95% CI) per churned connection" in text
    assert table_rows(text, "leak verdict") == [["leak verdict", "leak"]]
    assert table_rows(text, "descriptors left open after the run (fd growth)")[0][1] == "+78"


def test_page_and_summary_show_unknown_as_a_warning(server_results):
    results = with_leak(server_results, **UNKNOWN)
    assert '<span class="badge warn">server: leak verdict unknown: no churn' in page.badges(results)
    text = markdown.load_summary(results)
    assert "⚠️ server leak verdict unknown: no churn after warm-up" in text
    assert "no leak" not in text and "no leak" not in page.badges(results)


def test_a_run_without_server_telemetry_has_no_server_section(base_run):
    assert page.server_section(base_run.results) == []
    assert "server" not in page.badges(base_run.results)
    assert "Server under test" not in markdown.load_summary(base_run.results)


def test_storm_rows_say_when_and_how_fast_the_users_came_back():
    from reports import data

    storm = data.load_run(DATA / "run_storm").results.storm
    rows = dict(telemetry.storm_rows(storm))
    assert rows["connections dropped at"] == "20 s"
    assert rows["users back"] == "200 of 200"
    assert rows["99% back"] == "3.4 s after the drop"
    assert rows["failed reconnect handshakes"] == "177 (refused x140, 503 x37)"
    assert rows["left announcements seen / owed"] == "171 / 190"
    never = dict(telemetry.storm_rows(storm.model_copy(update={"back_100_s": None})))
    assert never["all back"] == "not within the run"


def test_connect_latency_is_a_row_of_the_latency_tables(server_results, base_run):
    text = markdown.load_summary(server_results)
    (row,) = table_rows(text, "connect (138 connections)")
    assert row[3] == "8.35 ms"  # p99
    assert "connect (" not in markdown.load_summary(base_run.results)
    assert "connect (connections)" in page.latency_table(server_results)


def test_scraped_metrics_are_listed_with_min_max_and_last(server_results):
    rows = {row[0]: row for row in telemetry.metric_rows(server_results.server)}
    assert list(rows) == ["chat_messages_relayed_total", "chat_rooms"]
    assert rows["chat_rooms"] == ["chat_rooms", "39", "6", "6", "6", "—"]  # a gauge: no rate
    samples = server_results.server.timeseries
    relayed = [s.metrics["chat_messages_relayed_total"] for s in samples]
    assert rows["chat_messages_relayed_total"][3] == f"{max(relayed):,.0f}"
    rate = (relayed[-1] - relayed[0]) / (samples[-1].t - samples[0].t)
    assert rows["chat_messages_relayed_total"][5] == f"{rate:,.0f}"
    assert "| chat_rooms | 39 | 6 | 6 | 6 | — |" in markdown.load_summary(server_results)
    assert telemetry.metric_rows(ServerTelemetry(source="pid 1")) == []


def test_a_labelled_counter_gets_a_rate_too():
    from harness.results import ServerSample

    name = 'chatbench_refusals_total{reason="origin"}'
    samples = [ServerSample(t=t, metrics={name: 10.0 + 4 * t}) for t in (0.0, 0.5, 2.5)]
    (row,) = telemetry.metric_rows(ServerTelemetry(source="u", timeseries=samples))
    assert row == [name, "3", "10", "20", "20", "4"]


def test_a_restart_storm_says_so_and_an_older_storm_is_a_drop():
    from reports import data, timecharts

    storm = data.load_run(DATA / "run_storm").results.storm
    restart = storm.model_validate({**storm.model_dump(), "cause": "restart"})
    assert dict(telemetry.storm_rows(restart))["server restart asked at"] == "20 s"
    assert timecharts.storm_marks(restart)[0][1] == "storm (server restart): 200 dropped"
    older = storm.model_validate({k: v for k, v in storm.model_dump().items() if k != "cause"})
    assert telemetry.storm_cause(older) == "drop"
    assert "users back" not in dict(telemetry.storm_rows(storm.model_validate({"at_s": 3})))


def test_descriptors_show_the_counts_before_and_after_the_run():
    leak = LeakVerdict(**{**NONE, "fds_before": 14, "fds_after": 13})
    rows = dict(telemetry.server_rows(ServerTelemetry(source="pid 1", leak=leak)))
    shown = rows["descriptors left open after the run (fd growth)"]
    assert shown == "+0 (14 before the run, 13 after)"
    assert telemetry.leak_kind(leak) == "ok"
