"""Print the demo's summary on the terminal: a headline and a few small tables, one screen.

Written for the retailer as much as for the engineer: events in and out, what each channel was
told it may sell, the oversells caught, and what the flows refused and why.
"""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from omnichannel.report import tables
from omnichannel.report.summary import DemoSummary, headline
from omnichannel.report.tables import ReportTable


def print_summary(summary: DemoSummary, console: Console, report: Path | None = None) -> None:
    """Print `summary` to `console`, ending with where the HTML report is, when given."""
    console.print(Text(headline(summary), style="bold"))
    availability = _table(tables.availability(summary))
    availability.caption = "Sold out: 0 at the end of the day after being above 0 (POS: per store)."
    blocks = [
        _side_by_side(_table(tables.events_in(summary)), _table(tables.events_out(summary))),
        availability,
        _side_by_side(_table(tables.anomalies(summary)), _table(tables.exceptions(summary))),
        _table(tables.postings(summary)),
    ]
    for block in blocks:
        console.line()
        console.print(block)
    console.line()
    if summary.busiest:
        busiest = ", ".join(f"{t.sku} ({t.updates:,})" for t in summary.busiest)
        console.print(Text(f"Busiest SKUs, by availability updates: {busiest}"))
    if report is not None:
        console.print(Text.assemble("HTML report: ", (str(report), "cyan")))


def _table(source: ReportTable) -> Table:
    table = Table(title=source.title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    for i, header in enumerate(source.headers):
        table.add_column(header, justify="right" if i else "left")
    for row in source.rows:
        # Text cells: a name from the data is shown as is, never read as rich markup.
        table.add_row(*(Text(cell) for cell in row))
    if source.total is not None:
        table.add_section()
        table.add_row(*(Text(cell) for cell in source.total), style="bold")
    return table


def _side_by_side(left: Table, right: Table) -> Table:
    grid = Table.grid(padding=(0, 4))
    grid.add_row(left, right)
    return grid
