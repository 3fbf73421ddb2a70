"""Load what chatbench wrote: a load run directory, its results.json, or a check JSON file.

Every problem with the input becomes a `UsageError` with a one-line message (exit 2 at the CLI).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader
from pydantic import ValidationError

from harness.errors import UsageError
from harness.results import CHECK_SCHEMA, LOAD_SCHEMA, CheckResults, LoadResults

RESULTS_FILE = "results.json"
HLOG_FILE = "fanout.hlog"
# A log whose first timestamp is this large holds epoch times, not seconds since the start.
_EPOCH_LIKE_S = 1e8

_M = TypeVar("_M", LoadResults, CheckResults)


class Interval(NamedTuple):
    """One interval histogram of fanout.hlog; `t` in seconds since the run started."""

    t: float
    length: float
    histogram: HdrHistogram


@dataclass
class LoadRun:
    """A load run: its results, the whole-run fan-out histogram and the per-second intervals."""

    source: Path
    results: LoadResults
    fanout: HdrHistogram | None = None
    intervals: list[Interval] = field(default_factory=list)
    locust_stats: list[dict[str, str]] = field(default_factory=list)
    connect: HdrHistogram | None = None
    """The whole run's connect-latency histogram (`connect_hdr`), when there is one."""


def load(path: str | Path) -> LoadRun | CheckResults:
    """Read a run directory, a results.json or a check JSON file; detect which it is."""
    path = Path(path)
    file = path / RESULTS_FILE if path.is_dir() else path
    if path.is_dir() and not file.is_file():
        raise UsageError(f"{path}: not a load run directory (no {RESULTS_FILE})")
    if not file.is_file():
        raise UsageError(f"{path}: no such file or directory")
    doc = _read_json(file)
    schema = doc.get("schema")
    if schema == CHECK_SCHEMA:
        return _validate(CheckResults, doc, file)
    if schema == LOAD_SCHEMA:
        return _load_run(file, doc)
    raise UsageError(f"{file}: unknown schema {schema!r} (want {LOAD_SCHEMA} or {CHECK_SCHEMA})")


def load_run(path: str | Path) -> LoadRun:
    """Like `load`, but the input must be a load run."""
    run = load(path)
    if not isinstance(run, LoadRun):
        raise UsageError(f"{path}: a check result, not a load run")
    return run


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: cannot read JSON: {_one_line(exc)}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: expected a JSON object")
    return doc


def _validate(model: type[_M], doc: dict[str, Any], path: Path) -> _M:
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise UsageError(f"{path}: invalid {model.__name__}: {where}: {first['msg']}") from None


def _load_run(file: Path, doc: dict[str, Any]) -> LoadRun:
    results = _validate(LoadResults, doc, file)
    run_dir = file.parent
    intervals = read_hlog(run_dir / HLOG_FILE) if (run_dir / HLOG_FILE).is_file() else []
    if results.fanout_hdr:
        fanout: HdrHistogram | None = decode_histogram(results.fanout_hdr, f"{file}: fanout_hdr")
    else:
        fanout = merge([i.histogram for i in intervals])
    connect = (
        decode_histogram(results.connect_hdr, f"{file}: connect_hdr")
        if results.connect_hdr
        else None
    )
    return LoadRun(file, results, fanout, intervals, read_locust_stats(run_dir), connect)


def decode_histogram(encoded: str, what: str) -> HdrHistogram:
    """Decode HdrHistogram's compressed base64 encoding."""
    try:
        return HdrHistogram.decode(encoded)
    # hdrh raises TypeError, zlib.error, its own cookie/length errors and more on bad input.
    except Exception as exc:
        raise UsageError(f"{what}: not an encoded HdrHistogram: {_one_line(exc)}") from None


def merge(histograms: list[HdrHistogram]) -> HdrHistogram | None:
    """One histogram holding every value of `histograms` (None when there are none)."""
    if not histograms:
        return None
    first = histograms[0]
    total = HdrHistogram(
        first.lowest_trackable_value, first.highest_trackable_value, first.significant_figures
    )
    for histogram in histograms:
        total.add(histogram)
    return total


def read_hlog(path: Path) -> list[Interval]:
    """The interval histograms of an HdrHistogram log (hdrh.log.HistogramLogWriter format)."""
    reader = HistogramLogReader(str(path), None)
    intervals: list[Interval] = []
    try:
        while (histogram := reader.get_next_interval_histogram()) is not None:
            start = histogram.get_start_time_stamp() / 1000.0 - reader.base_time_sec
            length = (histogram.get_end_time_stamp() - histogram.get_start_time_stamp()) / 1000.0
            intervals.append(Interval(start, length, histogram))
    # Malformed lines surface as ValueError, TypeError, zlib.error or hdrh's own exceptions.
    except Exception as exc:
        raise UsageError(f"{path}: malformed HdrHistogram log: {_one_line(exc)}") from None
    finally:
        reader.close()
    if intervals and intervals[0].t > _EPOCH_LIKE_S:
        t0 = intervals[0].t
        intervals = [i._replace(t=i.t - t0) for i in intervals]
    return intervals


def read_locust_stats(run_dir: Path) -> list[dict[str, str]]:
    """Rows of Locust's `*_stats.csv` in the run directory (empty when there is none)."""
    for file in sorted(run_dir.glob("*_stats.csv")):
        try:
            with file.open(newline="", encoding="utf-8") as handle:
                return list(csv.DictReader(handle))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise UsageError(f"{file}: cannot read Locust CSV: {_one_line(exc)}") from None
    return []


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
