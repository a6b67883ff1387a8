"""The finance watermark: the low watermark of the source partitions, which never runs ahead of
records not yet read, whatever the wall clock does."""

from __future__ import annotations

from omnichannel.contracts.order_event import OrderEvent
from operators.watermark import Watermark
from tests.unit.availability_events import pos

TOPIC = pos().source.topic


def at(event: OrderEvent, partition: int, minute: int, offset: int = 0) -> OrderEvent:
    """The event as read from `offset` of `partition` of its topic, happened at 09:`minute`."""
    source = event.source.model_copy(update={"partition": partition, "offset": offset})
    when = event.event_time.replace(hour=9, minute=minute)
    return event.model_copy(update={"source": source, "event_time": when})


def minute(watermark: Watermark) -> int | None:
    value = watermark.value()
    return None if value is None else value.minute


def test_a_lagging_partition_holds_the_watermark_back() -> None:
    watermark = Watermark()
    assert watermark.value() is None
    watermark.observe(at(pos(), 0, 50))
    watermark.observe(at(pos(), 1, 5))
    watermark.observe(at(pos(), 0, 55))

    assert minute(watermark) == 5
    watermark.observe(at(pos(), 1, 40))
    assert minute(watermark) == 40
    # Event time never goes back on a partition: an older event does not lower it.
    watermark.observe(at(pos(), 1, 1))
    assert minute(watermark) == 40


def test_a_partition_with_records_not_read_holds_it_however_long_it_is_silent() -> None:
    watermark = Watermark()
    watermark.learn_ends({(TOPIC, 0): (0, 10), (TOPIC, 1): (0, 10)})
    watermark.observe(at(pos(), 0, 50, offset=9))
    # Partition 1 has records, none read yet: their times are unknown, nothing may expire.
    assert watermark.value() is None
    watermark.observe(at(pos(), 1, 5, offset=3))
    assert minute(watermark) == 5
    # The broker went away: no new ends come, and partition 1 still has records to read.
    assert minute(watermark) == 5


def test_a_partition_read_to_its_end_stops_holding_it_back_until_it_has_more() -> None:
    watermark = Watermark()
    watermark.learn_ends({(TOPIC, 0): (0, 10), (TOPIC, 1): (0, 4)})
    watermark.observe(at(pos(), 0, 50, offset=5))
    watermark.observe(at(pos(), 1, 5, offset=3))
    assert minute(watermark) == 50
    # Partition 1 grew: it holds again, but the watermark never goes back.
    watermark.learn_ends({(TOPIC, 0): (0, 10), (TOPIC, 1): (0, 6)})
    assert minute(watermark) == 50
    watermark.observe(at(pos(), 0, 58, offset=9))
    watermark.observe(at(pos(), 1, 52, offset=4))
    assert minute(watermark) == 52
    # Everything that exists was read: the newest event time anywhere.
    watermark.observe(at(pos(), 1, 53, offset=5))
    assert minute(watermark) == 58


def test_an_empty_partition_does_not_hold_it_back() -> None:
    watermark = Watermark()
    watermark.learn_ends({(TOPIC, 0): (0, 10), (TOPIC, 1): (7, 7)})
    watermark.observe(at(pos(), 0, 20, offset=4))
    assert minute(watermark) == 20


CANONICAL = "canonical.orders"


def read(
    partition: int, offset: int, event: OrderEvent | None
) -> tuple[tuple[str, int], int, object]:
    """`event` as read from `offset` of canonical partition `partition` (None: unreadable)."""
    return (CANONICAL, partition), offset, event


def test_a_source_partition_is_read_only_as_far_as_every_unread_canonical_partition_has_it() -> (
    None
):
    # Normalization spread source partitions 0 and 1 over canonical partitions 0 and 2. A void
    # (source 1) was read from canonical 2; its sale (source 0, minute 20) is behind it there,
    # unread, while canonical 0 carried source 0 much further: source 0 looks read to minute 50.
    watermark = Watermark(read_topics=[CANONICAL])
    watermark.learn_ends(
        {(TOPIC, 0): (0, 10), (TOPIC, 1): (0, 10), (CANONICAL, 0): (0, 4), (CANONICAL, 2): (0, 8)}
    )
    watermark.claim((CANONICAL, 0), None)
    watermark.claim((CANONICAL, 2), None)
    watermark.observe_read(
        [
            read(0, 0, at(pos(), 0, 5, offset=0)),
            read(0, 3, at(pos(), 0, 50, offset=9)),
            read(0, 2, at(pos(), 1, 45, offset=9)),
        ]
    )
    watermark.observe_read(
        [read(2, 0, at(pos(), 1, 30, offset=2)), read(2, 1, at(pos(), 0, 10, offset=2))]
    )
    assert minute(watermark) == 10
    # Canonical 2 read on, to its end (its last record unreadable): nothing unread is left.
    watermark.observe_read(
        [
            read(2, 5, at(pos(), 0, 20, offset=4)),
            read(2, 6, at(pos(), 1, 40, offset=7)),
            read(2, 7, None),
        ]
    )
    assert minute(watermark) == 50


def test_a_source_partition_not_yet_seen_in_an_unread_canonical_partition_holds_it() -> None:
    watermark = Watermark(read_topics=[CANONICAL])
    watermark.learn_ends(
        {(TOPIC, 0): (0, 10), (TOPIC, 1): (0, 10), (CANONICAL, 0): (0, 4), (CANONICAL, 1): (0, 4)}
    )
    watermark.claim((CANONICAL, 0), None)
    watermark.claim((CANONICAL, 1), None)
    watermark.observe_read(
        [read(0, 3, at(pos(), 0, 50, offset=9)), read(0, 2, at(pos(), 1, 45, offset=9))]
    )
    # Canonical 1 has records of source 1 only, so far; source 0's may be behind them.
    watermark.observe_read([read(1, 0, at(pos(), 1, 40, offset=8))])
    assert watermark.value() is None
    watermark.observe_read([read(1, 1, at(pos(), 0, 30, offset=5))])
    assert minute(watermark) == 30


def test_a_canonical_partition_is_held_by_the_process_that_reads_it_only() -> None:
    watermark = Watermark(read_topics=[CANONICAL])
    watermark.learn_ends({(TOPIC, 0): (0, 10), (CANONICAL, 0): (0, 5), (CANONICAL, 1): (0, 8)})
    watermark.claim((CANONICAL, 0), None)
    # Canonical 0 is this process's, not read yet: its records' times are unknown.
    assert watermark.value() is None
    watermark.observe_read([read(0, 4, at(pos(), 0, 50, offset=9))])
    # Canonical 1 is another process's: it does not hold this one.
    assert minute(watermark) == 50


def test_a_canonical_partition_resumed_at_its_end_does_not_hold_it() -> None:
    watermark = Watermark(read_topics=[CANONICAL])
    watermark.learn_ends({(TOPIC, 0): (0, 10), (CANONICAL, 0): (0, 5), (CANONICAL, 1): (0, 8)})
    watermark.claim((CANONICAL, 0), 5)
    watermark.claim((CANONICAL, 1), 6)
    # Canonical 1 resumed before its end: two records of unknown time are still to be read.
    assert watermark.value() is None
    watermark.observe_read([read(1, 7, at(pos(), 0, 50, offset=9))])
    assert minute(watermark) == 50


def test_with_canonical_coordinates_a_record_is_counted_where_it_was_decoded_only() -> None:
    watermark = Watermark(read_topics=[CANONICAL])
    watermark.observe(at(pos(), 0, 50, offset=9))
    watermark.observe_many([at(pos(), 1, 50, offset=9)])
    assert watermark.value() is None


def test_a_canonical_partition_read_but_not_listed_yet_holds_it() -> None:
    watermark = Watermark(read_topics=[CANONICAL])
    watermark.learn_ends({(TOPIC, 0): (0, 10), (CANONICAL, 0): (0, 4)})
    watermark.claim((CANONICAL, 0), None)
    watermark.claim((CANONICAL, 1), None)
    watermark.observe_read([read(0, 3, at(pos(), 0, 50, offset=9))])
    # Canonical 1 is read by this process but the broker has not listed it: hold.
    assert watermark.value() is None
    watermark.observe_read([read(1, 0, at(pos(), 0, 20, offset=5))])
    assert minute(watermark) == 20
    watermark.learn_ends({(TOPIC, 0): (0, 10), (CANONICAL, 0): (0, 4), (CANONICAL, 1): (0, 1)})
    assert minute(watermark) == 50
