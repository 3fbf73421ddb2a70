"""Turn Figures into PNG and SVG (once each) and write report files."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from harness.errors import UsageError

_SVG_PROLOG = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_SVG_ID = re.compile(r'(\bid="|url\(#|href="#)')


@dataclass(frozen=True)
class Rendered:
    """One chart as files: `name` is the file stem, `svg` the markup without XML prolog."""

    name: str
    title: str
    caption: str
    png: bytes
    svg: str


def render(name: str, fig: Figure, caption: str) -> Rendered:
    """Render a figure to PNG and SVG."""
    png = io.BytesIO()
    fig.savefig(png, format="png")
    svg = io.StringIO()
    # Text stays text (smaller, searchable); a fixed salt makes the same run give the same file.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        fig.savefig(svg, format="svg")
    title = fig.axes[0].get_title(loc="left") if fig.axes else name
    markup = _unique_ids(_SVG_PROLOG.sub("", svg.getvalue(), 1), name)
    return Rendered(name, title, caption, png.getvalue(), markup)


def _unique_ids(svg: str, prefix: str) -> str:
    """Prefix every id and reference: several SVGs inline in one page must not share ids."""
    return _SVG_ID.sub(lambda m: f"{m.group(1)}{prefix}-", svg)


def prepare(out: Path) -> Path:
    """Create the output directory (UsageError when that is impossible)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out}: cannot create output directory: {exc.strerror}") from None
    return out


def write_text(out: Path, name: str, text: str) -> Path:
    """Write one text file of the report."""
    path = out / name
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror}") from None
    return path


def write_chart(out: Path, chart: Rendered) -> list[Path]:
    """Write NAME.png and NAME.svg."""
    png, svg = out / f"{chart.name}.png", out / f"{chart.name}.svg"
    try:
        png.write_bytes(chart.png)
        svg.write_text('<?xml version="1.0" encoding="utf-8"?>\n' + chart.svg, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{out}: cannot write charts: {exc.strerror}") from None
    return [png, svg]
