"""Print the demo's summary on the terminal: a headline and a few small tables, one screen.

Written for the retailer as much as for the engineer: events in and out, what each channel was
told it may sell, the oversells caught, and what the flows refused and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from omnichannel.contracts.common import Channel
from omnichannel.report.summary import SOURCE_NAMES, DemoSummary, headline


def print_summary(summary: DemoSummary, console: Console, report: Path | None = None) -> None:
    """Print `summary` to `console`, ending with where the HTML report is, when given."""
    console.print(Text(headline(summary), style="bold"))
    blocks = [
        _side_by_side(_events_in(summary), _events_out(summary)),
        _availability(summary),
        _side_by_side(
            _counts("Anomalies by kind", "Kind", summary.anomalies_by_type),
            _counts("Exceptions by reason", "Reason", summary.exceptions_by_reason),
        ),
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


def _events_in(summary: DemoSummary) -> Table:
    rows = [
        [SOURCE_NAMES.get(source, source), f"{count:,}"]
        for source, count in summary.events_by_source.items()
    ]
    return _table(
        "Events in", ["From", "Events"], rows, total=["Total", summary.total_input_events]
    )


def _events_out(summary: DemoSummary) -> Table:
    if not summary.expected_out:
        rows = [[topic, f"{count:,}"] for topic, count in summary.events_out.items()]
        return _table("Events out", ["Topic", "Events"], rows)
    rows = [
        [topic, f"{count:,}", f"{summary.expected_out.get(topic, 0):,}"]
        for topic, count in summary.events_out.items()
    ]
    return _table("Events out", ["Topic", "Events", "Expected"], rows)


def _availability(summary: DemoSummary) -> Table:
    rows = [
        [
            SOURCE_NAMES[channel.value],
            f"{summary.updates_published[channel]:,}",
            f"{summary.sold_out[channel]:,}",
            f"{summary.oversells[channel].caught:,}",
            f"{summary.oversells[channel].units_short:,}",
        ]
        for channel in Channel
    ]
    table = _table(
        "Availability per channel",
        ["Channel", "Updates published", "Sold out", "Oversells caught", "Units short"],
        rows,
        total=[
            "Total",
            sum(summary.updates_published.values()),
            sum(summary.sold_out.values()),
            summary.oversells_caught,
            summary.units_short,
        ],
    )
    table.caption = "Sold out: 0 at the end of the day after being above 0 (POS: per store)."
    return table


def _counts(title: str, kind: str, counts: Mapping[str, int]) -> Table:
    rows = [[name.replace("_", " "), f"{count:,}"] for name, count in counts.items()]
    return _table(title, [kind, "Count"], rows or [["none", "0"]])


def _table(
    title: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    total: Sequence[str | int] | None = None,
) -> Table:
    """A table whose first column names the row and the others are numbers."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if i else "left")
    for row in rows:
        # Text cells: a name from the data is shown as is, never read as rich markup.
        table.add_row(*(Text(cell) for cell in row))
    if total is not None:
        cells = (Text(f"{cell:,}" if isinstance(cell, int) else cell) for cell in total)
        table.add_section()
        table.add_row(*cells, style="bold")
    return table


def _side_by_side(left: Table, right: Table) -> Table:
    grid = Table.grid(padding=(0, 4))
    grid.add_row(left, right)
    return grid
