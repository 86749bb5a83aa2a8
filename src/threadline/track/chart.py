"""The operation chart: ages of the leads still open, and outcomes over time (matplotlib, no display needed)."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from threadline.core.errors import InputError
from threadline.model import LEAD_STATUSES, OUTCOMES
from threadline.track.report import OperationReport

if TYPE_CHECKING:  # matplotlib loads only when a chart is drawn
    from matplotlib.axes import Axes

CHART_FORMATS = ("png", "svg")


def chart_bytes(report: OperationReport, fmt: str = "svg") -> bytes:
    """The chart as PNG or SVG bytes. Made with matplotlib's object API (no pyplot, no GUI backend), with a fixed
    SVG id salt and no timestamp, so the same figures give the same file."""
    if fmt not in CHART_FORMATS:
        raise InputError(f"unknown chart format {fmt!r}; expected one of {', '.join(CHART_FORMATS)}")
    import matplotlib as mpl
    from matplotlib.figure import Figure

    with mpl.rc_context({"svg.hashsalt": "threadline", "svg.fonttype": "none", "font.size": 9}):
        figure = Figure(figsize=(13, 4), layout="constrained")
        ages, outcomes, counts = figure.subplots(1, 3)
        _ages(ages, report)
        _outcomes(outcomes, counts, report)
        buffer = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else {"Software": "Threadline"}
        figure.savefig(buffer, format=fmt, dpi=110, metadata=metadata)
    return buffer.getvalue()


def _ages(axes: Axes, report: OperationReport) -> None:
    statuses = [s for s in LEAD_STATUSES if any(status == s for _, status in report.open_ages)]
    data = [[age for age, status in report.open_ages if status == s] for s in statuses]
    if data:
        axes.hist(data, bins=20, stacked=True, label=statuses)
        axes.legend(title="status", fontsize=7)
    axes.set_title(f"Open leads by age ({len(report.open_ages)})")
    axes.set_xlabel("days since sent")
    axes.set_ylabel("leads")


def _outcomes(by_kind: Axes, totals: Axes, report: OperationReport) -> None:
    events = report.outcome_events
    series: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    running: dict[str, int] = defaultdict(int)
    sums = {"arrests": 0, "charges": 0, "children safeguarded": 0}
    cumulative: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for at, outcome, arrests, charges, children in events:
        running[outcome] += 1
        series[outcome].append((at, running[outcome]))
        for name, value in zip(sums, (arrests, charges, children), strict=True):
            sums[name] += value
            cumulative[name].append((at, sums[name]))
    for outcome in OUTCOMES:
        if series[outcome]:
            xs, ys = zip(*series[outcome], strict=True)
            by_kind.step(xs, ys, where="post", label=outcome.replace("_", " "))
    for name, points in cumulative.items():
        xs, ys = zip(*points, strict=True)
        totals.step(xs, ys, where="post", label=name)
    by_kind.set_title("Outcomes recorded over time")
    by_kind.set_ylabel("outcomes (cumulative)")
    totals.set_title("Arrests, charges, children safeguarded")
    totals.set_ylabel("cumulative count")
    for axes in (by_kind, totals):
        if events:
            axes.legend(fontsize=7)
            axes.tick_params(axis="x", labelrotation=30)
        else:
            axes.text(0.5, 0.5, "no outcome yet", ha="center", va="center", transform=axes.transAxes)


def write_chart(report: OperationReport, path: Path) -> Path:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in CHART_FORMATS:
        raise InputError(f"a chart file ends in .png or .svg, not {path.suffix or 'nothing'}", file=path)
    data = chart_bytes(report, fmt)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise InputError(f"cannot write the chart: {exc.strerror}", file=path) from None
    return path


def inline_svg(report: OperationReport) -> str:
    """The SVG chart without its XML prologue, ready to sit inside an HTML page."""
    text = chart_bytes(report, "svg").decode("utf-8")
    return text[text.index("<svg") :]
