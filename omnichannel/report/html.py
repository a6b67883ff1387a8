"""Write the demo's report: one self-contained HTML file with the figures and availability charts.

Everything is inline (CSS, SVG), so the file can be mailed or opened offline; nothing runs in
it. Every piece of text from the data is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from omnichannel.contracts.common import Channel
from omnichannel.report import tables
from omnichannel.report.summary import SOURCE_NAMES, DemoSummary, SkuTimeline, headline
from omnichannel.report.svg import ChartLine, step_chart
from omnichannel.report.tables import ReportTable

# Colour-blind-safe (Okabe-Ito), the same channel in the same colour on every chart.
CHANNEL_COLOURS = {
    Channel.WEB: "#0072B2",
    Channel.POS: "#D55E00",
    Channel.MARKETPLACE: "#009E73",
}

STYLE = """
body { font-family: system-ui, sans-serif; color: #222; max-width: 980px; margin: 2em auto;
       padding: 0 1em; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.tables { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
table { border-collapse: collapse; font-size: 0.95em; }
caption { text-align: left; font-weight: bold; padding-bottom: 0.3em; }
th, td { padding: 0.2em 0.7em; border-bottom: 1px solid #eee; text-align: left; }
th { background: #f5f5f5; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; border-top: 1px solid #999; }
figure { margin: 1.2em 0; }
figcaption { color: #555; font-size: 0.9em; }
.note { color: #555; font-size: 0.9em; }
"""


def write_html(summary: DemoSummary, path: Path) -> None:
    """Write the report of `summary` to `path`, creating its folder if needed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(summary), encoding="utf-8")


def render_html(summary: DemoSummary) -> str:
    """The report as one HTML document."""
    title = f"Trading day {summary.trading_day}: demo report"
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p>{escape(headline(summary))}.</p>",
        "<h2>Events</h2>",
        '<div class="tables">',
        _table(tables.events_in(summary)),
        _table(tables.events_out(summary)),
        "</div>",
        "<h2>Availability</h2>",
        _table(tables.availability(summary)),
        '<p class="note">Sold out: published available-to-sell is 0 at the end of the day '
        "after having been above 0. POS counts each SKU at each store.</p>",
        "<h2>Anomalies and exceptions</h2>",
        '<div class="tables">',
        _table(tables.anomalies(summary)),
        _table(tables.exceptions(summary)),
        "</div>",
        "<h2>Postings to the ERP</h2>",
        _table(tables.postings(summary)),
        "<h2>Busiest SKUs</h2>",
        '<p class="note">The SKUs with the most availability updates published, all channels '
        "and stores together. POS is the sum over its stores.</p>",
        *(_chart(summary, timeline) for timeline in summary.busiest),
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{escape(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def _table(source: ReportTable) -> str:
    """The table in HTML; its total row, if any, is marked."""
    lines = [f"<table><caption>{escape(source.title)}</caption>", _row("th", source.headers)]
    lines.extend(_row("td", row) for row in source.rows)
    if source.total is not None:
        lines.append(_row("td", source.total, ' class="total"'))
    lines.append("</table>")
    return "\n".join(lines)


def _row(tag: str, cells: Sequence[str], marked: str = "") -> str:
    # The first column names the row; the others are numbers, aligned right.
    first, number = f"<{tag}>", f'<{tag} class="num">'
    inner = "".join(
        f"{number if i else first}{escape(cell)}</{tag}>" for i, cell in enumerate(cells)
    )
    return f"<tr{marked}>{inner}</tr>"


def _chart(summary: DemoSummary, timeline: SkuTimeline) -> str:
    lines = [
        ChartLine(SOURCE_NAMES[channel.value], CHANNEL_COLOURS[channel], points)
        for channel, points in timeline.series.items()
    ]
    svg = step_chart(
        f"{timeline.sku}: available to sell", lines, summary.day_start, summary.day_end
    )
    caption = f"{timeline.sku}: {timeline.updates:,} availability updates over the day."
    return f"<figure>\n{svg}\n<figcaption>{escape(caption)}</figcaption>\n</figure>"
