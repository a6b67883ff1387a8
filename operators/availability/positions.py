"""A SKU's position at one location: on-hand, reserved, and what a cycle count settles.

A COUNT is the on-hand at the start of its timestamp: on-hand changes with an earlier event
time are already inside it and are ignored when they arrive late; changes at or after it apply
on top (a count is taken before anything else happens in its second). To apply a COUNT that
itself arrives late, the position keeps the on-hand changes since its last count, each with
its event time, for `count_horizon` of event time behind the newest change. The horizon must
cover how far the flow's inputs can drift apart (orders and stock arrive on separate topics,
and a backfill can run one far ahead of the other). A count older than that cannot be rebuilt
exactly and is ignored: the stock keeps its running figure. `apply` and `count` return False
when they leave on-hand as it was for one of these reasons, so that the flow can report it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

DEFAULT_COUNT_HORIZON = timedelta(days=2)


@dataclass(slots=True)
class Position:
    """On-hand and reserved units of one SKU at one location."""

    on_hand: int = 0
    reserved: int = 0
    counted_at: datetime | None = None
    # Changes from this time on are all in `changes`; None while nothing was forgotten.
    complete_from: datetime | None = None
    # (event time, on-hand change) since the last count, oldest first.
    changes: list[tuple[datetime, int]] = field(default_factory=list)
    # The figure of the count at `counted_at`: of two counts of one instant, the lower stands.
    counted: int | None = None

    def copy(self) -> Position:
        """An independent copy (the changes are immutable tuples, so a new list holds them)."""
        return Position(
            self.on_hand,
            self.reserved,
            self.counted_at,
            self.complete_from,
            list(self.changes),
            self.counted,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by value: a slotted dataclass otherwise pickles through a Python
        # __getstate__ that looks its fields up on every call.
        return Position, _POSITION_FIELDS(self)

    def apply(self, on_hand: int, reserved: int, event_time: datetime, horizon: timedelta) -> bool:
        """Apply an on-hand and reservation change that happened at `event_time`.

        Returns False when the on-hand change is inside the last count (absorbed by it).
        """
        self.reserved += reserved
        if on_hand == 0:
            return True
        if self.counted_at is not None and event_time < self.counted_at:
            # The count already saw this change on the shelf.
            return False
        self.on_hand += on_hand
        self.changes.append((event_time, on_hand))
        if len(self.changes) > 1 and self.changes[-2][0] > event_time:
            self.changes.sort(key=lambda change: change[0])
        self._forget_before(event_time - horizon)
        return True

    def count(self, counted: int, event_time: datetime) -> bool:
        """Set on-hand from a count as of `event_time`.

        Returns False, changing nothing, when a count as new is known or the changes kept since
        do not reach back to `event_time` (the count horizon).
        """
        if self.counted_at is not None and event_time < self.counted_at:
            return False
        if event_time == self.counted_at and (self.counted is None or counted >= self.counted):
            # Two counts of one instant disagree, whatever order they come in: the lower
            # stands (conservative under doubt).
            return False
        if self.complete_from is not None and event_time < self.complete_from:
            return False
        later = [change for change in self.changes if change[0] >= event_time]
        self.on_hand = counted + sum(units for _, units in later)
        self.changes = later
        self.counted_at = event_time
        self.counted = counted
        return True

    def _forget_before(self, cutoff: datetime) -> None:
        drop = 0
        while drop < len(self.changes) and self.changes[drop][0] < cutoff:
            drop += 1
        if drop:
            del self.changes[:drop]
            if self.complete_from is None or cutoff > self.complete_from:
                self.complete_from = cutoff


_POSITION_FIELDS = attrgetter(*(f.name for f in fields(Position)))
