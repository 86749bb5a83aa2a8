"""Small SVG line charts drawn on the server (burn-down, outcomes over time): no chart library, no script, and
colours from CSS classes so the page's content security policy can forbid inline styles."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

W, H = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 36


def _nice_max(value: int) -> int:
    if value <= 5:
        return max(value, 1)
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 2.5, 5, 10):
        top = int(step * magnitude)
        if top >= value:
            return top
    return value


def line_chart(days: Sequence[date], series: dict[str, Sequence[int]], *, title: str) -> Markup:
    """One polyline per series over the same days; series are classed s0, s1… in order."""
    if not days:
        return Markup(f'<p class="muted">{escape(title)}: nothing to show yet.</p>')
    top = _nice_max(max((max(values, default=0) for values in series.values()), default=0))
    span_x = W - LEFT - RIGHT
    span_y = H - TOP - BOTTOM
    n = len(days)

    def x(i: int) -> float:
        return LEFT + (span_x * i / (n - 1) if n > 1 else span_x / 2)

    def y(v: int) -> float:
        return TOP + span_y * (1 - v / top)

    out = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for k in range(5):
        value = round(top * k / 4)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value}</text>')
    for i in sorted({0, n // 2, n - 1}):
        out.append(f'<text class="tick" x="{x(i):.1f}" y="{H - 14}" text-anchor="middle">{days[i].isoformat()}</text>')
    for index, (name, values) in enumerate(series.items()):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        out.append(f'<polyline class="s{index}" points="{points}"><title>{escape(name)}</title></polyline>')
        if values:
            out.append(
                f'<circle class="s{index}" cx="{x(n - 1):.1f}" cy="{y(values[-1]):.1f}" r="3">'
                f"<title>{escape(name)}: {values[-1]}</title></circle>"
            )
    out.append("</svg>")
    legend = "".join(
        f'<span class="legend s{i}">{escape(name)}: {values[-1] if values else 0}</span>'
        for i, (name, values) in enumerate(series.items())
    )
    return Markup("".join(out) + f'<p class="legend-row">{legend}</p>')
