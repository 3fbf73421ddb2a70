"""Reports: charts, an HTML page and a Markdown summary of a load run or a conformance check.

`reports.data` loads what `chatbench load` / `chatbench check` wrote, `reports.series` turns the
timeseries into per-second series (NaN gaps, burst spans), `reports.charts` and
`reports.timecharts` draw them (each chart a matplotlib Figure; the latter stacks the server's
telemetry and the connections on the latency's time axis), `reports.telemetry` words the
server's figures, leak verdict and storm, `reports.build` writes the report directory, and
`reports.compare` judges one load run against another (`reports.shape`: are they alike?).
"""
