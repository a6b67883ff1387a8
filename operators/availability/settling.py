"""A SKU's stock changes put in event-time order: oversells judged once event time has settled,
and rises in stock published only once what came before them was read.

A stateful step takes a batch by key, and the order and movement paths reach a SKU by
different routes, so the order in which one SKU's changes arrive depends on batching and on
how the partitions interleave. The current figures do not (an order's facts and a count's
event time make them independent of arrival order), but judging a claim against whatever had
arrived so far did: the same day replayed gave 1,971 oversells with 1,000-line batches and a
different set with 1 line.

So a claim at event time t is an oversell when it exceeds the location's free stock at t
(on-hand less reservations, never below zero), counting every change up to t in event-time
order, and only once the watermark (`operators.watermark`) has passed t by the grace: changes
are queued here in that order, and `settle` applies them to positions of their own, judging
each claim against them as it goes. Ties in time are broken by kind (a count first: it is the
on-hand at the start of its instant), then by order or movement id, then by the values, so the
set of oversells is a function of the input whenever its partitions interleave within the
grace. A change that arrives after its time was
settled is applied at once, and a claim among them judged at once: late beyond the grace.

What is published stays conservative between updates: a change that lowers the number shows at
once, but one that raises it (a receipt, a release) shows only once the watermark has passed it,
so that no update reflects it without the changes before it in event time. A watermark that does
not move (a source partition whose newest records never reach availability, a resumed flow
waiting for every partition) must not freeze receipts, so a rise is held `hold` of wall time at
most.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from omnichannel.contracts.anomaly import Anomaly
from operators.availability.positions import Position
from operators.availability.stock_changes import StockChange, StockCount

DEFAULT_GRACE = timedelta(minutes=5)
DEFAULT_HOLD = timedelta(seconds=2)

OrderKey = tuple[datetime, int, str, str, str, int, int, int]
# Judges one claim against the settled positions just before it: the oversell, if any.
Judge = Callable[[StockChange, dict[str, Position]], list[Anomaly]]


def order_key(change: StockChange) -> OrderKey:
    """A total order on changes: event time, a count first in its instant, then by order or
    movement id, then by the values (equal keys, equal effects)."""
    if isinstance(change, StockCount):
        return (change.event_time, 0, change.location, "", change.movement_id or "",
                change.counted, 0, 0)  # fmt: skip
    return (
        change.event_time, 1, change.location, change.order_id or "", change.movement_id or "",
        change.on_hand, change.reserved, change.claimed,
    )  # fmt: skip


@dataclass(slots=True)
class Unsettled:
    """A change applied to the current figures, not yet to the settled ones."""

    key: OrderKey
    change: StockChange
    raised: int  # how far it raised the location's on-hand when applied
    released: int  # how many reserved units it let go
    since: datetime  # wall clock: when it was applied

    def __reduce__(self) -> tuple[Any, ...]:
        return Unsettled, _UNSETTLED_FIELDS(self)


@dataclass(slots=True)
class SettledStock:
    """One SKU's positions as of `through` in event time, and the changes after it."""

    positions: dict[str, Position] = field(default_factory=dict)
    through: datetime | None = None
    unsettled: list[Unsettled] = field(default_factory=list)  # in event-time order
    # The rises of `unsettled` still held, kept as they change: worked out from the list on
    # every change, they took half of availability's time. Not part of the state.
    _rises: _HeldRises | None = field(default=None, compare=False, repr=False)

    def copy(self) -> SettledStock:
        return SettledStock(
            {code: p.copy() for code, p in self.positions.items()}, self.through,
            list(self.unsettled),
        )  # fmt: skip

    def __reduce__(self) -> tuple[Any, ...]:
        return SettledStock, _SETTLED_FIELDS(self)

    def add(
        self,
        change: StockChange,
        raised: int,
        released: int,
        now: datetime,
        judge: Judge,
        horizon: timedelta,
    ) -> list[Anomaly]:
        """Queue a change in event-time order; one that is late is settled (and judged) now."""
        if self.through is not None and change.event_time <= self.through:
            return self._apply(change, judge, horizon)
        entry = Unsettled(order_key(change), change, raised, released, now)
        if self._rises is not None and (raised or released):
            self._rises.add(entry)
        queue = self.unsettled
        if not queue or queue[-1].key <= entry.key:
            queue.append(entry)
        else:
            low, high = 0, len(queue)
            while low < high:
                middle = (low + high) // 2
                if queue[middle].key <= entry.key:
                    low = middle + 1
                else:
                    high = middle
            queue.insert(low, entry)
        return []

    def settle(self, through: datetime, judge: Judge, horizon: timedelta) -> list[Anomaly]:
        """Apply every change up to `through` in event-time order, judging each claim."""
        if self.through is not None and through <= self.through:
            return []
        due = 0
        while due < len(self.unsettled) and self.unsettled[due].change.event_time <= through:
            due += 1
        found: list[Anomaly] = []
        for entry in self.unsettled[:due]:
            found.extend(self._apply(entry.change, judge, horizon))
        del self.unsettled[:due]
        self.through = through
        if self._rises is not None:
            self._rises.forget_through(through)
        return found

    def held(
        self, watermark: datetime | None, now: datetime, hold: timedelta
    ) -> dict[str, tuple[int, int]]:
        """Per location, the rises not to be shown yet: (on-hand raised, reservations released).
        Read-only: the same dict is kept up to date."""
        return self._rises_at(watermark, now, hold).sums

    def next_release(
        self, watermark: datetime | None, now: datetime, hold: timedelta
    ) -> datetime | None:
        """The wall time the next rise still held back at `now` is shown, whatever the
        watermark; None when none is (a rise let go must not wake its SKU again)."""
        return self._rises_at(watermark, now, hold).next_release()

    def take_moved(self) -> set[str] | None:
        """The locations whose held rises changed since the last call (None: any may have):
        only their channels' numbers can have moved without a change of stock."""
        rises = self._rises
        if rises is None:
            # Never worked out: nothing was held from any number yet.
            return set()
        moved, rises.moved = rises.moved, set()
        return moved

    def _rises_at(self, watermark: datetime | None, now: datetime, hold: timedelta) -> _HeldRises:
        rises = self._rises
        if rises is None or not rises.can_move_to(watermark, now, hold):
            rises = self._rises = _HeldRises(self.unsettled, hold)
        rises.move_to(watermark, now)
        return rises

    def _apply(self, change: StockChange, judge: Judge, horizon: timedelta) -> list[Anomaly]:
        position = self.positions.setdefault(change.location, Position())
        if isinstance(change, StockCount):
            position.count(change.counted, change.event_time)
            return []
        found = judge(change, self.positions) if change.claimed else []
        position.apply(change.on_hand, change.reserved, change.event_time, horizon)
        return found


class _HeldRises:
    """The unsettled rises still held at a watermark and a wall time, summed per location.

    A rise is held while the watermark has not passed its event time and it was applied less
    than `hold` ago. Both only ever let rises go as the watermark and the clock move on, so
    each rise is let go once, from whichever of two heaps (by event time, by release time)
    reaches it first: a change costs a push, not a pass over the SKU's unsettled changes.
    Asked at an earlier watermark or time than before (a test, a clock stepped back), it is
    worked out again from the list.
    """

    __slots__ = ("_by_release", "_by_time", "_hold", "_now", "_seq", "_watermark", "moved", "sums")

    def __init__(self, unsettled: Iterable[Unsettled], hold: timedelta) -> None:
        self._hold = hold
        self._watermark: datetime | None = None
        self._now: datetime | None = None
        self._seq = 0
        # Heap entries: (when, seq, [location, raised, released, still held]).
        self._by_time: list[tuple[datetime, int, list[Any]]] = []
        self._by_release: list[tuple[datetime, int, list[Any]]] = []
        self.sums: dict[str, tuple[int, int]] = {}
        # The locations whose sums changed since `SettledStock.take_moved` last asked; None:
        # any may have (these sums were just worked out anew).
        self.moved: set[str] | None = None
        for entry in unsettled:
            if entry.raised or entry.released:
                self.add(entry)

    def can_move_to(self, watermark: datetime | None, now: datetime, hold: timedelta) -> bool:
        """Whether these sums can be moved on to `watermark` and `now`: nothing goes back."""
        if hold != self._hold or (self._now is not None and now < self._now):
            return False
        if self._watermark is None:
            return True
        return watermark is not None and watermark >= self._watermark

    def add(self, entry: Unsettled) -> None:
        location = entry.change.location
        rise = [location, entry.raised, entry.released, True]
        self._seq += 1
        heapq.heappush(self._by_time, (entry.change.event_time, self._seq, rise))
        heapq.heappush(self._by_release, (entry.since + self._hold, self._seq, rise))
        raised, released = self.sums.get(location, (0, 0))
        self.sums[location] = (raised + entry.raised, released + entry.released)
        if self.moved is not None:
            self.moved.add(location)

    def move_to(self, watermark: datetime | None, now: datetime) -> None:
        """Let go what the clock at `now` and the watermark have passed."""
        self._now = now
        by_release = self._by_release
        while by_release and by_release[0][0] <= now:
            self._let_go(heapq.heappop(by_release)[2])
        if watermark is not None:
            self._watermark = watermark
            self.forget_through(watermark)

    def forget_through(self, through: datetime) -> None:
        """Let go the rises at or before `through` in event time (passed, or settled)."""
        by_time = self._by_time
        while by_time and by_time[0][0] <= through:
            self._let_go(heapq.heappop(by_time)[2])

    def next_release(self) -> datetime | None:
        """When the first rise still held is let go by the clock."""
        by_release = self._by_release
        while by_release and not by_release[0][2][3]:
            heapq.heappop(by_release)
        return by_release[0][0] if by_release else None

    def _let_go(self, rise: list[Any]) -> None:
        if not rise[3]:
            return
        rise[3] = False
        location = rise[0]
        if self.moved is not None:
            self.moved.add(location)
        raised, released = self.sums[location]
        raised, released = raised - rise[1], released - rise[2]
        if raised or released:
            self.sums[location] = (raised, released)
        else:
            del self.sums[location]


_UNSETTLED_FIELDS = attrgetter("key", "change", "raised", "released", "since")
_SETTLED_FIELDS = attrgetter("positions", "through", "unsettled")
