"""A step-line chart of whole numbers over a time window, as a small hand-written SVG.

No plotting library is at hand, and a report wants one self-contained file, so the chart is
written as SVG text: a title, a legend, a y axis of units with round ticks, an x axis of the
time of day (UTC), and one step line per series. A step line holds each value until the next
point, and the last value to the end of the window, which is how a published number behaves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

WIDTH = 720
HEIGHT = 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 40, 44
Y_TICKS = 5


@dataclass(frozen=True)
class ChartLine:
    """One series: its legend label, its colour, and its points (time, value) in order."""

    label: str
    colour: str
    points: Sequence[tuple[datetime, int]]


@dataclass(frozen=True)
class _Frame:
    """Maps a (time, value) to plot coordinates."""

    start: datetime
    end: datetime
    top_value: int

    def x(self, when: datetime) -> float:
        span = (self.end - self.start).total_seconds()
        clamped = min(max(when, self.start), self.end)
        share = (clamped - self.start).total_seconds() / span
        return LEFT + share * (WIDTH - LEFT - RIGHT)

    def y(self, value: int) -> float:
        share = min(max(value, 0), self.top_value) / self.top_value
        return HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM)


def step_chart(title: str, lines: Sequence[ChartLine], start: datetime, end: datetime) -> str:
    """Return an SVG step-line chart of `lines` from `start` to `end`.

    Points outside the window are drawn at its edge; values below 0 at 0.
    """
    if end <= start:
        raise ValueError(f"the chart's window must end after it starts: {start} to {end}")
    highest = max((value for line in lines for _, value in line.points), default=0)
    step = nice_step(highest)
    frame = _Frame(start, end, max(step * math.ceil(highest / step), step))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
        *_y_axis(frame, step),
        *_x_axis(frame),
        *_legend(lines),
        *(_line_path(line, frame) for line in lines if line.points),
        "</svg>",
    ]
    return "\n".join(parts)


def nice_step(highest: int, ticks: int = Y_TICKS) -> int:
    """A round tick step (1, 2 or 5 times a power of ten) giving about `ticks` ticks."""
    if highest <= ticks:
        return 1
    raw = highest / ticks
    # raw > 1 here, so the power of ten is a whole number.
    magnitude: int = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def _y_axis(frame: _Frame, step: int) -> list[str]:
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts = [f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#333"/>']
    for value in range(0, frame.top_value + 1, step):
        y = frame.y(value)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#e5e5e5"/>'
            f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{LEFT}" y2="{y:.1f}" stroke="#333"/>'
            f'<text x="{LEFT - 7}" y="{y + 4:.1f}" text-anchor="end">{value}</text>'
        )
    parts.append(
        f'<text x="14" y="{(TOP + bottom) / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(TOP + bottom) / 2:.1f})">units</text>'
    )
    return parts


def _x_axis(frame: _Frame) -> list[str]:
    bottom = HEIGHT - BOTTOM
    parts = [f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#333"/>']
    for tick in _time_ticks(frame.start, frame.end):
        x = frame.x(tick)
        label = "24:00" if tick == frame.end and tick.hour == tick.minute == 0 else f"{tick:%H:%M}"
        parts.append(
            f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#333"/>'
            f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{label}</text>'
        )
    parts.append(
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.1f}" y="{HEIGHT - 6}" '
        'text-anchor="middle">event time (UTC)</text>'
    )
    return parts


def _time_ticks(start: datetime, end: datetime) -> list[datetime]:
    hours = 3 if end - start >= timedelta(hours=12) else 1
    ticks, tick = [], start
    while tick <= end:
        ticks.append(tick)
        tick += timedelta(hours=hours)
    return ticks


def _legend(lines: Sequence[ChartLine]) -> list[str]:
    parts, x = [], WIDTH - RIGHT - 120 * len(lines)
    for line in lines:
        parts.append(
            f'<line x1="{x}" y1="14" x2="{x + 20}" y2="14" stroke="{escape(line.colour)}" '
            f'stroke-width="2.5"/><text x="{x + 26}" y="18">{escape(line.label)}</text>'
        )
        x += 120
    return parts


def _line_path(line: ChartLine, frame: _Frame) -> str:
    # Points closer than the drawing's resolution keep the last value: the step is the same.
    steps: list[tuple[float, float]] = []
    for when, value in line.points:
        point = (round(frame.x(when), 1), round(frame.y(value), 1))
        if steps and steps[-1][0] == point[0]:
            steps[-1] = point
        else:
            steps.append(point)
    x, y = steps[0]
    commands = [f"M{x:.1f} {y:.1f}"]
    for next_x, next_y in steps[1:]:
        commands.append(f"L{next_x:.1f} {y:.1f} L{next_x:.1f} {next_y:.1f}")
        y = next_y
    commands.append(f"L{frame.x(frame.end):.1f} {y:.1f}")
    return (
        f'<path class="series" data-label="{escape(line.label)}" d="{" ".join(commands)}" '
        f'fill="none" stroke="{escape(line.colour)}" stroke-width="1.8"/>'
    )
