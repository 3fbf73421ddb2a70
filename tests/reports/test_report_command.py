"""`chatbench report` end to end through harness.cli.main, on the recorded results."""

import json
import math
import re
import shutil
from html import escape

import pytest

from harness.cli import main
from tests.reports.conftest import DATA

CHARTS = {
    "latency_over_time": "Fan-out latency over time",
    "latency_distribution": "Fan-out latency distribution",
    "latency_histogram": "Fan-out latency histogram",
    "throughput": "Messages per second",
    "ledger_events": "Delivery ledger events per second",
    "latency_by_room_size": "Fan-out latency by room size",
}


def test_load_report_writes_charts_html_and_summary(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["report", str(DATA / "run_base"), "-o", str(out)]) == 0
    assert str(out / "index.html") in capsys.readouterr().out
    for name in CHARTS:
        assert (out / f"{name}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert "<svg" in (out / f"{name}.svg").read_text()
    page = (out / "index.html").read_text()
    assert page.count("<svg") == len(CHARTS)
    for name, title in CHARTS.items():
        assert f'<figure id="{name}"><svg' in page
        assert title in page  # SVG text stays text, so each chart's title is in the page
    for expected in ("p99&lt;100ms", "MISSED", "SLO 1/2 met", "lost: 7", "ws://127.0.0.1:8765"):
        assert expected in page
    assert "Locust statistics" in page and "Aggregated" in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)) > len(CHARTS)  # inline SVGs must not share element ids
    assert "<link" not in page and "<script" not in page and "<img" not in page  # self-contained
    summary = (out / "summary.md").read_text()
    assert summary.startswith("## chatbench load report")
    assert "| fan-out (16,600 deliveries) |" in summary


def test_default_output_is_inside_the_run_directory(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(DATA / "run_worse", run)
    assert main(["report", str(run / "results.json")]) == 0
    page = (run / "report" / "index.html").read_text()
    assert page.count("<svg") == len(CHARTS)  # distribution merged from fanout.hlog


def test_compare_flags_a_worse_run(tmp_path, capsys):
    argv = ["report", "--compare", str(DATA / "run_base"), str(DATA / "run_worse")]
    assert main([*argv, "-o", str(tmp_path)]) == 1
    verdict = capsys.readouterr().out.splitlines()[0]
    assert verdict == "REGRESSION: p99 +45.6% (threshold 10%); lost 7 -> 22"
    page = (tmp_path / "index.html").read_text()
    assert "BASE (run_base)" in page and "NEW (run_worse)" in page and "REGRESSED" in page
    assert page.count("<svg") == 2
    for name in ("compare_distribution", "compare_p99_over_time"):
        assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    assert "REGRESSION" in (tmp_path / "summary.md").read_text()


def test_compare_passes_an_equal_run(tmp_path, capsys):
    base = DATA / "run_base"
    assert (
        main(["report", "--compare", str(base), str(base / "results.json"), "-o", str(tmp_path)])
        == 0
    )
    assert capsys.readouterr().out.startswith("OK: p99 +0.0% (threshold 10%)")


def test_threshold_decides_on_p99(tmp_path, capsys):
    doc = json.loads((DATA / "run_base" / "results.json").read_text())
    doc["fanout_latency_us"]["p99"] *= 1.2
    slower = tmp_path / "slower.json"
    slower.write_text(json.dumps(doc))
    argv = ["report", "--compare", str(DATA / "run_base"), str(slower), "-o", str(tmp_path / "o")]
    assert main([*argv, "--threshold", "25%"]) == 0
    assert main([*argv, "--threshold", "15"]) == 1
    assert "p99 +20.0% (threshold 15%)" in capsys.readouterr().out


def test_check_result_is_rendered_as_a_conformance_page(tmp_path, check_results):
    assert main(["report", str(DATA / "check.json"), "-o", str(tmp_path)]) == 0
    html = (tmp_path / "index.html").read_text()
    for case in check_results.cases:
        assert case.id in html
    failed = [c for c in check_results.cases if c.verdict == "fail"]
    assert failed and all(c.transcript for c in failed)
    for entry in failed[0].transcript:
        assert str(escape(entry.data)) in html
    assert "| `message.roundtrip` | MUST | ❌ fail |" in (tmp_path / "summary.md").read_text()


def _bad_inputs(tmp_path) -> dict[str, list[str]]:
    (tmp_path / "empty").mkdir()
    (tmp_path / "garbage.json").write_text("not json at all")
    (tmp_path / "other.json").write_text('{"schema": "something/2"}')
    run = str(DATA / "run_base")
    return {
        "missing": ["report", str(tmp_path / "nope")],
        "empty-dir": ["report", str(tmp_path / "empty")],
        "garbage": ["report", str(tmp_path / "garbage.json")],
        "schema": ["report", str(tmp_path / "other.json")],
        "no-run": ["report"],
        "both": ["report", run, "--compare", run, run],
        "compare-check": ["report", "--compare", run, str(DATA / "check.json")],
        "threshold": ["report", "--compare", run, run, "--threshold", "lots"],
        "out-is-file": ["report", run, "-o", str(tmp_path / "garbage.json")],
    }


@pytest.mark.parametrize(
    "case",
    ["missing", "empty-dir", "garbage", "schema", "no-run", "both", "compare-check", "threshold",
     "out-is-file"],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, case):
    assert main(_bad_inputs(tmp_path)[case]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("chatbench report: error: ")
    assert captured.err.count("\n") == 1
    assert "Traceback" not in captured.err


def test_a_run_without_timeseries_or_histograms_still_reports(tmp_path):
    empty = {"count": 0}
    doc = {"schema": "chatbench.load/1", "fanout_latency_us": empty, "rtt_latency_us": empty,
           "deliveries": {}, "cleanup": {}}  # fmt: skip
    (tmp_path / "results.json").write_text(json.dumps(doc))
    assert main(["report", str(tmp_path), "-o", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "index.html").read_text()
    assert "<svg" not in page and "No configuration recorded." in page
    assert "no lost, duplicated" in (tmp_path / "out" / "summary.md").read_text()


def test_compare_fails_a_new_run_that_delivered_nothing(tmp_path, capsys):
    doc = json.loads((DATA / "run_base" / "results.json").read_text())
    doc["deliveries"] = dict.fromkeys(doc["deliveries"], 0)
    doc["fanout_latency_us"] = doc["rtt_latency_us"] = {"count": 0}
    doc["fanout_hdr"] = doc["rtt_hdr"] = ""
    doc["timeseries"] = []
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps(doc))
    argv = ["report", "--compare", str(DATA / "run_base"), str(empty), "-o", str(tmp_path / "c")]
    assert main(argv) == 1
    verdict = capsys.readouterr().out.splitlines()[0]
    assert verdict == "FAIL: NEW is broken: no message was sent; nothing was delivered"


def test_load_report_shows_how_the_server_ended_connections(tmp_path):
    doc = json.loads((DATA / "run_base" / "results.json").read_text())
    doc["connections"] = {"opened": 30, "welcomed": 30, "server_closes": {"1011": 9}, "lost": 2}
    doc["deliveries"]["replayed"] = 55
    doc["broken"] = ["the server ended the connection of every user (6 of 6)"]
    run = tmp_path / "run"
    shutil.copytree(DATA / "run_base", run)
    (run / "results.json").write_text(json.dumps(doc))
    assert main(["report", str(run), "-o", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "index.html").read_text()
    for expected in (
        "server closes: 9",
        "connections lost: 2",
        "closed by the server",
        "9 (1011 x9)",
        "replayed",
        "broken run: the server ended the connection of every user (6 of 6)",
    ):
        assert escape(expected) in page, expected


def test_a_run_with_server_telemetry_reports_the_server_charts_and_leak(tmp_path):
    out = tmp_path / "out"
    assert main(["report", str(DATA / "run_server"), "-o", str(out)]) == 0
    page = (out / "index.html").read_text()
    for name in ("server_over_time", "connections_over_time", "connect_distribution"):
        assert f'<figure id="{name}"><svg' in page
        assert (out / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    assert "Server under test over time (pid 4242)" in page
    assert "server: leak: 48.2 KiB" in page
    summary = (out / "summary.md").read_text()
    assert "### Server under test" in summary and "| leak verdict | leak |" in summary


def test_a_run_with_a_storm_reports_it(tmp_path):
    out = tmp_path / "out"
    assert main(["report", str(DATA / "run_storm"), "-o", str(out)]) == 0
    page = (out / "index.html").read_text()
    assert "Reconnect storm" in page and "99% back after 3.4 s" in page
    assert '<figure id="server_over_time">' not in page
    assert "| 99% back | 3.4 s after the drop |" in (out / "summary.md").read_text()


def test_delivered_says_it_includes_the_senders_own_copies(tmp_path):
    out = tmp_path / "out"
    assert main(["report", str(DATA / "run_base"), "-o", str(out)]) == 0
    assert escape("delivered (incl. each sender's own copy)") in (out / "index.html").read_text()
    assert "delivered (incl. each sender's own copy)" in (out / "summary.md").read_text()
    doc = json.loads((DATA / "run_base" / "results.json").read_text())
    doc["config"]["profile"] = {"echo": False}
    (tmp_path / "noecho.json").write_text(json.dumps(doc))
    assert main(["report", str(tmp_path / "noecho.json"), "-o", str(tmp_path / "o2")]) == 0
    text = (tmp_path / "o2" / "summary.md").read_text()
    assert "this server echoes no sender's own copy" in text and "incl. each" not in text


def test_locust_numbers_are_rounded_and_wide_tables_scroll(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(DATA / "run_base", run)
    head = "Type,Name,Request Count,Average Response Time,Requests/s,Average Content Size\n"
    (run / "locust_stats.csv").write_text(head + "WS,send,12345,3.1874000000000002,22.3333,N/A\n")
    assert main(["report", str(run), "-o", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "index.html").read_text()
    locust = page[page.index("<h2>Locust statistics</h2>") :]
    assert locust.split("</h2>", 1)[1].lstrip().startswith('<div class="scroll"><table>')
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", locust)
    assert cells == ["WS", "send", "12,345", "3.19", "22.3", "N/A"]
    assert "3.1874" not in page
    assert ".scroll { overflow-x: auto" in page


def test_compare_of_runs_of_different_shapes_warns_everywhere(tmp_path, capsys):
    argv = ["report", "--compare", str(DATA / "run_server"), str(DATA / "run_storm")]
    main([*argv, "-o", str(tmp_path)])
    captured = capsys.readouterr()
    (line,) = [w for w in captured.err.splitlines() if "warning" in w]
    assert line.startswith(
        "chatbench report: warning: BASE and NEW differ in shape (users 60 vs 200;"
    )
    assert "warning" not in captured.out.splitlines()[0]  # stdout's first line stays the verdict
    page = (tmp_path / "index.html").read_text()
    assert (
        '<span class="badge warn">warning: BASE and NEW differ in shape (users 60 vs 200;' in page
    )
    assert "server leak verdict" in page and "reconnect storm" in page
    summary = (tmp_path / "summary.md").read_text()
    assert "⚠️ **warning: BASE and NEW differ in shape (users 60 vs 200;" in summary


def test_compare_of_runs_of_one_shape_does_not_warn(tmp_path, capsys):
    argv = ["report", "--compare", str(DATA / "run_base"), str(DATA / "run_worse")]
    main([*argv, "-o", str(tmp_path)])
    assert "warning" not in capsys.readouterr().err
    assert "warning" not in (tmp_path / "index.html").read_text()
    assert "warning" not in (tmp_path / "summary.md").read_text()


def test_compare_of_two_runs_with_server_telemetry_overlays_the_server(tmp_path, capsys):
    doc = json.loads((DATA / "run_server" / "results.json").read_text())
    first_rss = doc["server"]["timeseries"][0]["rss_bytes"]
    for sample in doc["server"]["timeseries"]:
        sample["rss_bytes"] = first_rss  # the leak fixed: memory flat
    leak = {"verdict": "none", "bytes_per_churned_conn": 12.0, "ci95_bytes": 400.0}
    doc["server"]["leak"] = {**leak, "churned_connections": 78, "fd_growth": 0}
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(doc))
    out = tmp_path / "c"
    assert main(["report", "--compare", str(fixed), str(DATA / "run_server"), "-o", str(out)]) == 1
    assert capsys.readouterr().out.splitlines()[0] == "REGRESSION: server leak: none -> leak"
    page = (out / "index.html").read_text()
    assert '<figure id="compare_server_over_time"><svg' in page
    assert "Server under test: BASE vs NEW" in page
    assert "warning" not in page  # one shape


def test_compare_server_chart_overlays_both_runs(tmp_path):
    from reports import data, timecharts

    run = data.load_run(DATA / "run_server").results
    fig = timecharts.compare_server({"BASE": (run.timeseries, run.server), "NEW": ([], run.server)})
    p99, cpu, rss = fig.axes
    assert [line.get_label() for line in cpu.get_lines()] == ["BASE", "NEW"]
    assert (p99.get_ylabel(), cpu.get_ylabel(), rss.get_ylabel()) == (
        "Fan-out p99 (ms)",
        "CPU (% of a core)",
        "RSS (MiB)",
    )
    base_cpu = cpu.get_lines()[0].get_ydata()
    assert base_cpu[0] == run.server.timeseries[0].cpu and math.isnan(base_cpu[17])
