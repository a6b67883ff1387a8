"""How far event time has got on every source partition: what the flows' graces are measured by.

Finance: an event that came before its predecessor (a void before its sale, a refund before
its invoice) waits until the watermark has passed its event time by the grace. Availability:
a claim is judged for oversell once the watermark has passed it by its grace, and a rise in
stock is published once the watermark has passed it. The watermark must never run ahead of
data that exists but was not read yet: a void given up while its sale sits unread behind a
stalled consumer is a lost reversal.

The value is the low watermark over the source partitions (`orders.web`, `orders.pos`,
`orders.marketplace`, `inventory.movements`: a record's `source`), each at the newest event
time read from it. A partition stops holding it back only when it was read to its end, as the
broker reports the end (`learn_ends`): a sparse feed that has nothing more does not stall
every grace, while a partition with records not yet read always holds. Time alone never lets a
partition go: a stalled flow, a broker outage or a slow node hold the watermark where it was.
A partition the broker lists but this process has not read from yet holds it too (until it
was read, its times are unknown), unless it is empty.

A flow that reads canonical topics (`read_topics`) does not read a source partition directly:
normalization spreads each source partition's records over the canonical partitions, in the
source partition's order within each. So a source partition is read up to a time only when
every canonical partition that still has records to read was read up to that time *for that
source partition*: the watermark keeps the newest event time per (canonical partition, source
partition), and each canonical partition this process reads (`claim`, from its source) holds
it, per source partition, until it was read to its end. A sale behind a canonical partition
read more slowly than the others (a stall, a rebuilt consumer, another worker's backlog) holds
the watermark however far the others have carried the same source partition. A canonical
partition another process reads is that process's to hold.

Without ends from a broker (the file replay), every partition seen holds it back. The value
never goes back: an event of a partition that fell behind is late, not a reason to wait again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from omnichannel.contracts.common import SourceCoordinates

END_OF_TIME = datetime.max.replace(tzinfo=UTC)
PartitionId = tuple[str, int]  # (topic, partition)
Ends = Mapping[PartitionId, tuple[int, int]]  # (first offset, offset after the last record)
# Records read without the coordinates of a canonical partition (the replay, a test's input).
DIRECT = ("", -1)


class Sourced(Protocol):
    """A canonical record: where it was read, and when it happened."""

    @property
    def source(self) -> SourceCoordinates: ...

    @property
    def event_time(self) -> datetime: ...


R = TypeVar("R", bound=Sourced)


class Watermark:
    """The low watermark of the source partitions, shared by the workers of a process.

    With `read_topics`, it learns what was read from the canonical records' coordinates
    (`observe_read`, called where they are decoded), and `observe` does nothing: the steps that
    call it serve the replay too, whose records come without canonical coordinates.
    """

    def __init__(self, read_topics: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        # source partition -> canonical partition (or DIRECT) -> (newest event time, offset
        # in the source partition of the highest one read)
        self._read: dict[PartitionId, dict[PartitionId, tuple[datetime, int]]] = {}
        self._ends: dict[PartitionId, tuple[int, int]] | None = None
        self._value: datetime | None = None
        # Whether anything it is computed from changed since it was last computed.
        self._changed = True
        self._read_topics = frozenset(read_topics)
        # Canonical partitions this process reads -> the offset it resumed from.
        self._claimed: dict[PartitionId, int | None] = {}
        # ... and the highest offset read from each, a record of a known time or not.
        self._reached: dict[PartitionId, int] = {}

    @property
    def read_topics(self) -> frozenset[str]:
        """The topics whose partitions hold it while this process has records of them to read."""
        return self._read_topics

    def observe(self, event: R) -> R:
        """Count a record read from its source partition; return it."""
        if not self._read_topics:
            source = event.source
            with self._lock:
                self._merge(
                    DIRECT, (source.topic, source.partition), source.offset, event.event_time
                )
        return event

    def observe_many(self, events: Iterable[Sourced]) -> None:
        """Count records read from their source partitions."""
        if self._read_topics:
            return
        with self._lock:
            for event in events:
                source = event.source
                self._merge(
                    DIRECT, (source.topic, source.partition), source.offset, event.event_time
                )

    def observe_at(self, where: PartitionId, offset: int, event_time: datetime) -> None:
        """Count a record read from source partition `where` at `offset`, of `event_time`."""
        if not self._read_topics:
            with self._lock:
                self._merge(DIRECT, where, offset, event_time)

    def claim(self, where: PartitionId, resume_from: int | None) -> None:
        """This process reads partition `where` of a read topic, from offset `resume_from` (the
        next record to read; None: from its start)."""
        with self._lock:
            self._claimed[where] = resume_from
            self._changed = True

    def observe_read(self, reads: Iterable[tuple[PartitionId, int, Any]]) -> None:
        """Count records read from partitions of the read topics: (partition, offset, decoded
        record); a record without a source or an event time (an unreadable one) counts as read
        and tells nothing of time."""
        reached: dict[PartitionId, int] = {}
        newest: dict[tuple[PartitionId, PartitionId], tuple[datetime, int]] = {}
        for where, offset, record in reads:
            reached[where] = max(reached.get(where, offset), offset)
            found = _source_and_time(record)
            if found is None:
                continue
            source, source_offset, event_time = found
            pair = (where, source)
            seen = newest.get(pair)
            if seen is None:
                newest[pair] = (event_time, source_offset)
            else:
                newest[pair] = (max(seen[0], event_time), max(seen[1], source_offset))
        with self._lock:
            self._changed = True
            for where, offset in reached.items():
                self._reached[where] = max(self._reached.get(where, offset), offset)
            for (where, source), (event_time, source_offset) in newest.items():
                self._merge(where, source, source_offset, event_time)

    def _merge(
        self, where: PartitionId, source: PartitionId, offset: int, event_time: datetime
    ) -> None:
        self._changed = True
        by_canonical = self._read.setdefault(source, {})
        seen = by_canonical.get(where)
        if seen is None:
            by_canonical[where] = (event_time, offset)
        else:
            by_canonical[where] = (max(seen[0], event_time), max(seen[1], offset))

    def learn_ends(self, ends: Ends) -> None:
        """Every partition the broker has (source and read topics), with where it starts and
        ends now."""
        with self._lock:
            self._ends = dict(ends)
            self._changed = True

    def value(self) -> datetime | None:
        """The watermark now; None until every partition that holds it back was read from."""
        with self._lock:
            if not self._changed:
                return self._value
            self._changed = False
            candidate = self._candidate()
            if candidate is not None and (self._value is None or candidate > self._value):
                self._value = candidate
            return self._value

    def _candidate(self) -> datetime | None:
        newest = {
            source: max(time for time, _ in by_canonical.values())
            for source, by_canonical in self._read.items()
        }
        if self._ends is None:
            return min(newest.values(), default=None)
        unread = self._unread()
        if unread is None:
            return None
        holding: list[datetime] = []
        for source, (first, end) in self._ends.items():
            if source[0] in self._read_topics:
                continue
            by_canonical = self._read.get(source)
            if by_canonical is None:
                if end > first:
                    return None  # records of unknown time not read yet
                continue
            if max(offset for _, offset in by_canonical.values()) + 1 < end:
                holding.append(newest[source])  # records not read (nor normalized) yet
        for by_canonical in self._read.values():
            topics = {where[0] for where in by_canonical}
            for where in unread:
                if where[0] not in topics:
                    continue  # a canonical topic this source partition does not go to
                seen = by_canonical.get(where)
                if seen is None:
                    return None  # records of it may be there, of unknown time
                holding.append(seen[0])
        # Read from, but not (or no longer) listed by the broker: it holds until listed.
        holding.extend(time for source, time in newest.items() if source not in self._ends)
        if holding:
            return min(holding)
        # Every partition was read to its end: nothing that exists is unread.
        return max(newest.values(), default=None)

    def _unread(self) -> list[PartitionId] | None:
        """The canonical partitions this process reads that have records it has not read; None
        when one of them has and none of it was read yet."""
        assert self._ends is not None
        unread: list[PartitionId] = []
        for where, resumed in self._claimed.items():
            ends = self._ends.get(where)
            reached = self._reached.get(where)
            if ends is None:
                # Not listed (yet): where it ends is unknown, so it may have more to read.
                if reached is None:
                    return None
                unread.append(where)
                continue
            first, end = ends
            if reached is None:
                if (resumed if resumed is not None else first) >= end:
                    continue  # empty, or read to its end before this process resumed it
                return None
            if reached + 1 < end:
                unread.append(where)
        return unread


def _source_and_time(record: Any) -> tuple[PartitionId, int, datetime] | None:
    """Where a canonical record (or availability's view of one) was read at the source, and
    when it happened."""
    event_time = getattr(record, "event_time", None)
    source = getattr(record, "source", None)
    if event_time is None or source is None:
        return None
    if isinstance(source, tuple):  # a view's (topic, partition, offset)
        return (source[0], source[1]), source[2], event_time
    return (source.topic, source.partition), source.offset, event_time


class AllRead:
    """The watermark of input that is all there already (a test feeding a logic directly):
    every event time has been read."""

    def observe(self, event: R) -> R:
        return event

    def value(self) -> datetime:
        return END_OF_TIME
