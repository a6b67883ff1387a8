"""The demo's tables as plain rows, so that the terminal and the HTML report show the same."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from omnichannel.contracts.common import Channel
from omnichannel.report.summary import SOURCE_NAMES, DemoSummary


@dataclass(frozen=True)
class ReportTable:
    """A titled table: the first column names the row, the others are numbers."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    total: list[str] | None = None


def events_in(summary: DemoSummary) -> ReportTable:
    rows = [
        [SOURCE_NAMES.get(source, source), f"{count:,}"]
        for source, count in summary.events_by_source.items()
    ]
    return ReportTable(
        "Events in", ["From", "Events"], rows, ["Total", f"{summary.total_input_events:,}"]
    )


def events_out(summary: DemoSummary) -> ReportTable:
    if not summary.expected_out:
        rows = [[topic, f"{count:,}"] for topic, count in summary.events_out.items()]
        return ReportTable("Events out", ["Topic", "Events"], rows)
    rows = [
        [topic, f"{count:,}", f"{summary.expected_out.get(topic, 0):,}"]
        for topic, count in summary.events_out.items()
    ]
    return ReportTable("Events out", ["Topic", "Events", "Expected"], rows)


def availability(summary: DemoSummary) -> ReportTable:
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
    total = [
        "Total",
        f"{sum(summary.updates_published.values()):,}",
        f"{sum(summary.sold_out.values()):,}",
        f"{summary.oversells_caught:,}",
        f"{summary.units_short:,}",
    ]
    headers = ["Channel", "Updates published", "Sold out", "Oversells caught", "Units short"]
    return ReportTable("Availability per channel", headers, rows, total)


def counts(title: str, kind: str, by_name: Mapping[str, int]) -> ReportTable:
    rows = [[name.replace("_", " "), f"{count:,}"] for name, count in by_name.items()]
    return ReportTable(title, [kind, "Count"], rows or [["none", "0"]])


def anomalies(summary: DemoSummary) -> ReportTable:
    return counts("Anomalies by kind", "Kind", summary.anomalies_by_type)


def exceptions(summary: DemoSummary) -> ReportTable:
    return counts("Exceptions by reason", "Reason", summary.exceptions_by_reason)


def postings(summary: DemoSummary) -> ReportTable:
    return counts("Postings to the ERP", "Entry", summary.postings_by_type)
