"""The finance watermark: the low watermark of the source partitions, sparse ones let go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from omnichannel.contracts.order_event import OrderEvent
from operators.finance.logic import Watermark
from tests.unit.availability_events import pos

WALL = datetime(2026, 11, 27, 12, tzinfo=UTC)
IDLE = timedelta(seconds=30)


def at(event: OrderEvent, partition: int, minute: int) -> OrderEvent:
    """The event as read from `partition` of its topic, happened at 09:`minute`."""
    source = event.source.model_copy(update={"partition": partition})
    when = event.event_time.replace(hour=9, minute=minute)
    return event.model_copy(update={"source": source, "event_time": when})


def test_a_lagging_partition_holds_the_watermark_back() -> None:
    watermark = Watermark(IDLE)
    assert watermark.value_at(WALL) is None
    watermark.observe(at(pos(), 0, 50), WALL)
    watermark.observe(at(pos(), 1, 5), WALL)
    watermark.observe(at(pos(), 0, 55), WALL)

    assert watermark.value_at(WALL).minute == 5  # type: ignore[union-attr]
    watermark.observe(at(pos(), 1, 40), WALL)
    assert watermark.value_at(WALL).minute == 40  # type: ignore[union-attr]
    # Event time never goes back on a partition: an older event does not lower it.
    watermark.observe(at(pos(), 1, 1), WALL)
    assert watermark.value_at(WALL).minute == 40  # type: ignore[union-attr]


def test_a_silent_partition_stops_holding_it_back_until_it_delivers_again() -> None:
    watermark = Watermark(IDLE)
    watermark.observe(at(pos(), 1, 5), WALL)
    later = WALL + IDLE
    watermark.observe(at(pos(), 0, 50), later)

    assert watermark.value_at(later).minute == 50  # type: ignore[union-attr]
    watermark.observe(at(pos(), 1, 6), later)
    assert watermark.value_at(later).minute == 6  # type: ignore[union-attr]
    # Every partition silent: the newest event time anywhere.
    assert watermark.value_at(later + 2 * IDLE).minute == 50  # type: ignore[union-attr]
