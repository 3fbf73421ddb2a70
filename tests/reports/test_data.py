import json
import shutil

import pytest
from hdrh.histogram import HdrHistogram

from harness.errors import UsageError
from harness.results import CheckResults
from reports import data
from tests.reports.conftest import DATA


def test_run_directory_loads_results_histogram_intervals_and_locust(base_run):
    r = base_run.results
    assert base_run.source == DATA / "run_base" / "results.json"
    assert [i.t for i in base_run.intervals] == [float(t) for t in range(30)]
    assert all(i.length == pytest.approx(1.0) for i in base_run.intervals)
    assert base_run.fanout.get_total_count() == r.fanout_latency_us.count
    assert base_run.fanout.get_value_at_percentile(99) == r.fanout_latency_us.p99
    assert [row["Name"] for row in base_run.locust_stats] == ["send", "Aggregated"]


def test_intervals_match_the_timeseries(base_run):
    for interval, row in zip(base_run.intervals, base_run.results.timeseries, strict=True):
        assert interval.histogram.get_max_value() == row.max
        assert interval.histogram.get_value_at_percentile(50) == row.p50


def test_without_fanout_hdr_the_hlog_intervals_are_merged(worse_run):
    r = worse_run.results
    assert r.fanout_hdr == ""
    assert worse_run.fanout.get_total_count() == r.fanout_latency_us.count
    assert worse_run.fanout.get_total_count() == sum(
        i.histogram.get_total_count() for i in worse_run.intervals
    )
    assert worse_run.fanout.get_value_at_percentile(99) == r.fanout_latency_us.p99
    assert worse_run.fanout.get_max_value() == r.fanout_latency_us.max


def test_results_json_path_finds_the_hlog_beside_it():
    run = data.load(DATA / "run_worse" / "results.json")
    assert isinstance(run, data.LoadRun)
    assert len(run.intervals) == 30


def test_check_json_is_detected(check_results):
    assert isinstance(check_results, CheckResults)
    assert [c.verdict for c in check_results.cases] == ["pass", "fail", "fail", "skip", "error"]


def test_load_run_refuses_a_check_result():
    with pytest.raises(UsageError, match="check result"):
        data.load_run(DATA / "check.json")


def test_merge_of_nothing_is_none():
    assert data.merge([]) is None


def test_epoch_timestamps_become_seconds_since_start(tmp_path):
    from hdrh.log import HistogramLogWriter

    epoch = 1_764_000_000.0
    with (tmp_path / "fanout.hlog").open("w") as handle:
        writer = HistogramLogWriter(handle)
        for t in range(3):
            h = HdrHistogram(1, 60_000_000, 3)
            h.record_value(100 * (t + 1))
            writer.output_interval_histogram(h, epoch + t, epoch + t + 1)
    intervals = data.read_hlog(tmp_path / "fanout.hlog")
    assert [i.t for i in intervals] == pytest.approx([0.0, 1.0, 2.0])
    assert [i.histogram.get_max_value() for i in intervals] == [100, 200, 300]


def _results_doc() -> dict:
    return json.loads((DATA / "run_base" / "results.json").read_text())


def _corrupt(tmp_path, case: str):
    """A broken input of kind `case`; returns the path to give `data.load`."""
    run = tmp_path / "run"
    shutil.copytree(DATA / "run_base", run)
    doc = _results_doc()
    if case == "missing":
        return tmp_path / "nowhere"
    if case == "no-results":
        (run / "results.json").unlink()
    elif case == "not-json":
        (run / "results.json").write_text("{ nope")
    elif case == "array":
        (run / "results.json").write_text("[1, 2]")
    elif case == "schema":
        (run / "results.json").write_text(json.dumps({**doc, "schema": "other/9"}))
    elif case == "invalid":
        (run / "results.json").write_text(json.dumps({**doc, "deliveries": {"lost": "many"}}))
    elif case == "bad-hdr":
        (run / "results.json").write_text(json.dumps({**doc, "fanout_hdr": "HISTnot-base64!"}))
    elif case == "bad-hlog":
        (run / "fanout.hlog").write_text("0.0,1.0,3.0,HISTFAAAgarbage\n")
    return run


@pytest.mark.parametrize(
    "case",
    ["missing", "no-results", "not-json", "array", "schema", "invalid", "bad-hdr", "bad-hlog"],
)
def test_bad_input_is_a_one_line_usage_error(tmp_path, case):
    with pytest.raises(UsageError) as info:
        data.load(_corrupt(tmp_path, case))
    message = str(info.value)
    assert message and "\n" not in message
    assert str(tmp_path) in message
