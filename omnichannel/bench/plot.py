"""Horizontal bar charts of benchmark figures, as small self-contained SVG files."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from omnichannel.report.svg import nice_step

WIDTH = 760
LABEL_W = 230
RIGHT = 90
BAR_H = 22
GAP = 10
TOP = 44
BOTTOM = 40


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, float]],
    unit: str,
    marker: tuple[str, float] | None = None,
) -> str:
    """One bar per (label, value); `marker` draws a dashed reference line (the ceiling, say)."""
    highest = max([value for _, value in bars] + ([marker[1]] if marker else []) + [1.0])
    step = nice_step(math.ceil(highest))
    top_value = step * math.ceil(highest / step)
    plot_w = WIDTH - LABEL_W - RIGHT
    height = TOP + len(bars) * (BAR_H + GAP) + BOTTOM

    def x(value: float) -> float:
        return LABEL_W + plot_w * min(max(value, 0.0), top_value) / top_value

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="8" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    axis_y = height - BOTTOM
    for tick in range(0, int(top_value) + 1, step):
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="{TOP - 6}" x2="{x(tick):.1f}" y2="{axis_y}" '
            f'stroke="#e5e5e5"/><text x="{x(tick):.1f}" y="{axis_y + 14}" '
            f'text-anchor="middle">{tick:,}</text>'
        )
    parts.append(
        f'<text x="{LABEL_W + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle">'
        f"{escape(unit)}</text>"
    )
    for n, (label, value) in enumerate(bars):
        y = TOP + n * (BAR_H + GAP)
        parts.append(
            f'<text x="{LABEL_W - 8}" y="{y + BAR_H * 0.7:.1f}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect class="bar" data-label="{escape(label)}" x="{LABEL_W}" y="{y}" '
            f'width="{x(value) - LABEL_W:.1f}" height="{BAR_H}" fill="#4c78a8"/>'
            f'<text x="{x(value) + 4:.1f}" y="{y + BAR_H * 0.7:.1f}">{value:,.0f}</text>'
        )
    if marker is not None:
        label, value = marker
        parts.append(
            f'<line x1="{x(value):.1f}" y1="{TOP - 8}" x2="{x(value):.1f}" y2="{axis_y}" '
            f'stroke="#d62728" stroke-dasharray="4 3" stroke-width="1.5"/>'
            f'<text x="{x(value):.1f}" y="{TOP - 12}" text-anchor="middle" fill="#d62728">'
            f"{escape(label)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
