"""Hourly reconciliation per channel: ordered, shipped, invoiced, refunded, credited.

The order ledger reports each value as a `Measure` at its event time; this step adds them up
in tumbling windows of one hour of event time per (channel, currency). A window closes when the
newest event time of its channel passes its end plus the grace, and is published as a
`ReconciliationSummary`. A late measure changes a closed window, which is published again, with
the next revision, when the next hour closes (so a burst of late measures makes one revision,
not one each). At the end of a bounded input every changed window is published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from omnichannel.contracts.common import Channel
from omnichannel.contracts.reconciliation import ReconciliationSummary

HOUR = timedelta(hours=1)
ZERO = Decimal(0)
VALUES = ("ordered", "shipped", "invoiced", "refunded", "credited")
COUNTS = ("orders", "invoices", "credit_memos", "gaps")


@dataclass(frozen=True, slots=True)
class Measure:
    """A value (or a count) the ledger saw for reconciliation."""

    channel: Channel
    currency: str
    event_time: datetime
    what: str  # one of VALUES or COUNTS
    # "XXX" (ISO 4217: no currency) when the value is unknown, e.g. a shipment never priced.
    amount: Decimal = ZERO
    count: int = 0


@dataclass(slots=True)
class Window:
    values: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(VALUES, ZERO))
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    revision: int = 0
    changed: bool = True


@dataclass(slots=True)
class ChannelBooks:
    """The open and recently closed windows of one (channel, currency)."""

    channel: Channel | None = None
    currency: str = ""
    windows: dict[datetime, Window] = field(default_factory=dict)
    newest: datetime | None = None
    closed_until: datetime | None = None

    def add(self, measure: Measure, grace: timedelta, now: datetime) -> list[ReconciliationSummary]:
        """Count the measure into its hour; return the windows that close (or change) now."""
        self.channel, self.currency = measure.channel, measure.currency
        start = _hour(measure.event_time)
        window = self.windows.setdefault(start, Window())
        if measure.what in window.values:
            window.values[measure.what] += measure.amount
        else:
            window.counts[measure.what] += measure.count
        window.changed = True
        if self.newest is None or measure.event_time > self.newest:
            self.newest = measure.event_time
        horizon = _hour(self.newest - grace)
        if self.closed_until is not None and horizon <= self.closed_until:
            return []
        self.closed_until = horizon
        return self.close(horizon, now)

    def close(self, before: datetime, now: datetime) -> list[ReconciliationSummary]:
        """Publish every changed window that ends at or before `before`; forget old ones."""
        summaries = []
        for start, window in sorted(self.windows.items()):
            if start + HOUR <= before and window.changed and self.channel is not None:
                window.changed = False
                window.revision += 1
                summaries.append(_summary(self.channel, self.currency, start, window, now))
        # Keep a day of closed windows for late measures; older ones are final.
        for start in [s for s in self.windows if s + HOUR + timedelta(days=1) < before]:
            del self.windows[start]
        return summaries


def _summary(
    channel: Channel, currency: str, start: datetime, window: Window, now: datetime
) -> ReconciliationSummary:
    return ReconciliationSummary.model_validate(
        {
            "channel": channel,
            "currency": currency,
            "window_start": start,
            "window_end": start + HOUR,
            **window.values,
            **window.counts,
            "revision": window.revision,
            "published_at": now,
        }
    )


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)
