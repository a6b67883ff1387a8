"""How far event time has got on every source partition: what the flows' graces are measured by.

Finance: an event that came before its predecessor (a void before its sale, a refund before
its invoice) waits until the watermark has passed its event time by the grace. Availability:
a claim is judged for oversell once the watermark has passed it by its grace, and a rise in
stock is published once the watermark has passed it. The watermark must never run ahead of
data that exists but was not read yet: a void given up while its sale sits unread behind a
stalled consumer is a lost reversal.

The value is the low watermark over the source partitions (`orders.web`, `orders.pos`,
`orders.marketplace`, `inventory.movements`: a record's `source`), each at the newest event
time read from it. A
partition stops holding it back only when it was read to its end, as the broker reports the
end (`learn_ends`): a sparse feed that has nothing more does not stall every grace, while a
partition with records not yet read always holds. Time alone never lets a partition go: a
stalled flow, a broker outage or a slow node hold the watermark where it was. A partition the
broker lists but this process has not read from yet holds it too (until it was read, its
times are unknown), unless it is empty.

The partitions the flow itself reads (`canonical.orders`, ...: `read_topics`) hold it too. A
source partition's records reach several of them, so a canonical partition that stalled while
the others carry newer records of the same source partition would leave the source partition
looking read to its end while records of it sit unread. Each canonical partition this process
reads (`claim`, from its source) holds the watermark at the newest event time read from it
until it was read to its end; a partition read by another process is that process's to hold.

Without ends from a broker (the file replay), every partition seen holds it back. The value
never goes back: an event of a partition that fell behind is late, not a reason to wait again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from omnichannel.contracts.common import SourceCoordinates

END_OF_TIME = datetime.max.replace(tzinfo=UTC)
PartitionId = tuple[str, int]  # (source topic, partition)
Ends = Mapping[PartitionId, tuple[int, int]]  # (first offset, offset after the last record)


class Sourced(Protocol):
    """A canonical record: where it was read, and when it happened."""

    @property
    def source(self) -> SourceCoordinates: ...

    @property
    def event_time(self) -> datetime: ...


R = TypeVar("R", bound=Sourced)


class Watermark:
    """The low watermark of the source partitions, shared by the workers of a process."""

    def __init__(self, read_topics: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        # (topic, partition) -> (newest event time, highest offset read)
        self._read: dict[PartitionId, tuple[datetime, int]] = {}
        self._ends: dict[PartitionId, tuple[int, int]] | None = None
        self._value: datetime | None = None
        # Whether anything it is computed from changed since it was last computed.
        self._changed = True
        self._read_topics = frozenset(read_topics)
        # Partitions of `read_topics` this process reads -> the offset it resumed from.
        self._claimed: dict[PartitionId, int | None] = {}
        # ... and the highest offset read from each, a record of a known time or not.
        self._reached: dict[PartitionId, int] = {}

    def observe(self, event: R) -> R:
        """Count a record read from its source partition; return it."""
        source = event.source
        self.observe_at((source.topic, source.partition), source.offset, event.event_time)
        return event

    def observe_many(self, events: Iterable[Sourced]) -> None:
        """Count records read from their source partitions."""
        with self._lock:
            for event in events:
                source = event.source
                self._merge((source.topic, source.partition), source.offset, event.event_time)

    def observe_at(self, where: PartitionId, offset: int, event_time: datetime) -> None:
        """Count a record read from partition `where` at `offset`, of `event_time`."""
        with self._lock:
            self._merge(where, offset, event_time)

    def _merge(self, where: PartitionId, offset: int, event_time: datetime) -> None:
        self._changed = True
        seen = self._read.get(where)
        if seen is None:
            self._read[where] = (event_time, offset)
        else:
            self._read[where] = (max(seen[0], event_time), max(seen[1], offset))

    @property
    def read_topics(self) -> frozenset[str]:
        """The topics whose partitions hold it while this process has records of them to read."""
        return self._read_topics

    def claim(self, where: PartitionId, resume_from: int | None) -> None:
        """This process reads partition `where` of a read topic, from offset `resume_from` (the
        next record to read; None: from its start)."""
        with self._lock:
            self._claimed[where] = resume_from
            self._changed = True

    def observe_read(self, reads: Iterable[tuple[PartitionId, int, datetime | None]]) -> None:
        """Count records read from partitions of the read topics: (partition, offset, event
        time, or None for a record without one, as an unreadable one)."""
        reached: dict[PartitionId, int] = {}
        newest: dict[PartitionId, datetime] = {}
        for where, offset, event_time in reads:
            reached[where] = max(reached.get(where, offset), offset)
            if event_time is not None and (where not in newest or event_time > newest[where]):
                newest[where] = event_time
        with self._lock:
            self._changed = True
            for where, offset in reached.items():
                self._reached[where] = max(self._reached.get(where, offset), offset)
                if where in newest:
                    self._merge(where, offset, newest[where])

    def learn_ends(self, ends: Ends) -> None:
        """Every source partition the broker has, with where it starts and ends now."""
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
        if self._ends is None:
            return min((time for time, _ in self._read.values()), default=None)
        holding: list[datetime] = []
        for where, (first, end) in self._ends.items():
            if where[0] in self._read_topics:
                if where not in self._claimed:
                    continue  # read by another process, or not yet by this one
                reached = self._reached.get(where)
                resumed = self._claimed[where]
                if reached is None and resumed is not None and resumed >= end:
                    continue  # read to its end before this process resumed it
                if reached is not None and reached + 1 >= end:
                    continue  # read to its end
            seen = self._read.get(where)
            if seen is None:
                if end > first:
                    return None  # records of unknown time not read yet
                continue
            time, offset = seen
            if offset + 1 < end:
                holding.append(time)
        # Read from, but not (or no longer) listed by the broker: it holds until listed.
        holding.extend(time for where, (time, _) in self._read.items() if where not in self._ends)
        if holding:
            return min(holding)
        # Every partition was read to its end: nothing that exists is unread.
        return max((time for time, _ in self._read.values()), default=None)


class AllRead:
    """The watermark of input that is all there already (a test feeding a logic directly):
    every event time has been read."""

    def observe(self, event: R) -> R:
        return event

    def value(self) -> datetime:
        return END_OF_TIME
