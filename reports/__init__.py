"""Reports: charts, an HTML page and a Markdown summary of a load run or a conformance check.

`reports.data` loads what `chatbench load` / `chatbench check` wrote, `reports.charts` draws it
(each chart a matplotlib Figure), `reports.build` writes the report directory, and
`reports.compare` judges one load run against another.
"""
