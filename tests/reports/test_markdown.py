from reports import markdown
from reports.compare import compare


def table_rows(text: str, first_cell: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if line.startswith("|") and cells[0] == first_cell:
            rows.append(cells)
    return rows


def test_check_summary_has_one_row_per_clause(check_results):
    text = markdown.check_summary(check_results)
    assert text.startswith("## chatbench conformance check")
    assert "1 passed, 2 failed, 0 blocked, 1 errors, 1 skipped" in text
    assert "| clause | level | verdict | reason |" in text
    (row,) = table_rows(text, "`message.roundtrip`")
    assert row == ["`message.roundtrip`", "MUST", "❌ fail", "text changed in transit"]
    (skip,) = table_rows(text, "`leave.half-open`")
    assert skip[1:3] == ["SHOULD", "⏭️ skip"]
    assert len([r for r in text.splitlines() if r.startswith("| `")]) == len(check_results.cases)


def test_cells_are_escaped_and_kept_on_one_line():
    text = markdown.table(["a", "b"], [["x | y", "line\nbreak"]])
    assert text.splitlines()[2] == "| x \\| y | line break |"


def test_load_summary_reports_latency_problems_slo_and_saturation(base_run):
    text = markdown.load_summary(base_run.results)
    assert "❌ **SLO 1/2 met**" in text
    assert "**lost 7**" in text and "**leave missing 1**" in text
    assert "load generator saturated at 20 s" in text
    (fanout,) = table_rows(text, "fan-out (16,600 deliveries)")
    assert fanout[1:4] == ["3.48 ms", "16.5 ms", "76.4 ms"]
    assert table_rows(text, "`lost==0`") == [["`lost==0`", "7", "❌ missed"]]
    assert [r[0] for r in table_rows(text, "10") + table_rows(text, "100")] == ["10", "100"]


def test_compare_summary_carries_the_verdict_and_deltas(base_run, worse_run):
    result = compare(base_run.results, worse_run.results, 10)
    text = markdown.compare_summary(result, "a", "b")
    assert "❌ **REGRESSION: p99 +45.6% (threshold 10%); lost 7 -> 22**" in text
    assert table_rows(text, "lost") == [["lost", "7", "22", "+15", "+214.3%", "❌"]]


def closed_by_server(run):
    r = run.results
    connections = r.connections.model_copy(
        update={"opened": 40, "welcomed": 40, "server_closes": {"1011": 12}, "reconnects": 12}
    )
    sends = r.sends.model_copy(update={"scheduled": 900, "sent": 860, "unsent": 40})
    deliveries = r.deliveries.model_copy(update={"replayed": 77})
    return r.model_copy(
        update={"connections": connections, "sends": sends, "deliveries": deliveries}
    )


def test_load_summary_shows_server_closes_replays_and_unsent(base_run):
    text = markdown.load_summary(closed_by_server(base_run))
    assert "**server closes 12**" in text and "**unsent 40**" in text
    assert table_rows(text, "closed by the server") == [["closed by the server", "12 (1011 x12)"]]
    assert table_rows(text, "reconnects") == [["reconnects", "12"]]
    assert table_rows(text, "unsent (sender had no connection)") == [
        ["unsent (sender had no connection)", "40"]
    ]
    assert "| replayed |" in text and "| 77 |" in text


def test_load_summary_says_a_broken_run_is_broken(base_run):
    broken = base_run.results.model_copy(update={"broken": ["no member was welcomed"]})
    text = markdown.load_summary(broken)
    assert "❌ **broken run: no member was welcomed**" in text


def test_an_interrupted_run_says_it_is_incomplete_and_a_whole_one_does_not(base_run):
    from reports import page

    assert "incomplete" not in markdown.load_summary(base_run.results)
    assert "incomplete" not in page.badges(base_run.results)
    config = {**base_run.results.config, "incomplete": True}
    config.update(duration_s=3.5, planned_duration_s=20.0)
    stopped = base_run.results.model_copy(update={"config": config})
    line = "incomplete run: 3.5 s of sending of 20 s planned"
    assert f"❌ **{line}" in markdown.load_summary(stopped)
    assert f'<span class="badge bad">{line}' in page.badges(stopped)
