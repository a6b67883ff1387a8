"""Hourly reconciliation windows: closing on event time, revisions for late measures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from omnichannel.contracts.common import Channel
from operators.finance.reconciliation import ChannelBooks, Measure

T = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
GRACE = timedelta(minutes=30)


def measure(minutes: int, what: str, amount: str = "0", count: int = 0) -> Measure:
    return Measure(Channel.WEB, "USD", T + timedelta(minutes=minutes), what, Decimal(amount), count)


def test_an_hour_closes_after_its_end_plus_the_grace() -> None:
    books = ChannelBooks()
    assert books.add(measure(10, "shipped", "64.86"), GRACE, NOW) == []
    assert books.add(measure(15, "invoiced", "64.86"), GRACE, NOW) == []
    assert books.add(measure(20, "invoices", count=1), GRACE, NOW) == []
    assert books.add(measure(80, "shipped", "10.00"), GRACE, NOW) == []  # 09:20: 08:00 still open
    (summary,) = books.add(measure(95, "ordered", "5.00"), GRACE, NOW)  # 09:35: 08:00 closes
    assert (summary.window_start, summary.window_end) == (T, T + timedelta(hours=1))
    assert (summary.shipped, summary.invoiced, summary.invoices) == (
        Decimal("64.86"), Decimal("64.86"), 1
    )  # fmt: skip
    assert (summary.revision, summary.currency, summary.channel) == (1, "USD", "web")


def test_a_late_measure_is_published_as_the_next_revision() -> None:
    books = ChannelBooks()
    books.add(measure(10, "shipped", "1.00"), GRACE, NOW)
    books.add(measure(95, "shipped", "1.00"), GRACE, NOW)
    assert books.add(measure(20, "shipped", "2.00"), GRACE, NOW) == []  # waits for the next hour
    summaries = books.add(measure(155, "shipped", "1.00"), GRACE, NOW)  # 10:35
    assert [(s.window_start.hour, s.revision, s.shipped) for s in summaries] == [
        (8, 2, Decimal("3.00")),
        (9, 1, Decimal("1.00")),
    ]


def test_the_end_of_input_publishes_what_is_open() -> None:
    books = ChannelBooks()
    books.add(measure(10, "refunded", "32.43"), GRACE, NOW)
    books.add(measure(12, "gaps", count=1), GRACE, NOW)
    (summary,) = books.close(datetime.max.replace(tzinfo=UTC), NOW)
    assert (summary.refunded, summary.credited, summary.gaps) == (Decimal("32.43"), 0, 1)
