"""The shared floor every channel of the simulated day trades on: clock, stock book, outbox.

The day is a discrete-event simulation. Each channel puts its first events (orders arriving,
customers at the till) on the `Timeline`; handling an event may put follow-ups on it (a
fulfilment hours after an order). Handling events strictly in time order keeps the stock book
true at every instant, so a cycle count reports what is really on the shelf.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from random import Random
from typing import Any

from omnichannel.scenario.assortment import Assortment
from omnichannel.scenario.clock import MINUTE_MS, TradingDay
from omnichannel.scenario.money import Purse
from omnichannel.scenario.records import Outbox
from omnichannel.scenario.stock import StockBook

Action = Callable[[int, Any], None]


class Timeline:
    """What happens next: actions with the instant they happen at, earliest first.

    A calendar of one bucket per minute of the day rather than one heap: scheduling appends
    to a bucket, and each bucket is sorted once when its minute comes. Ties run in the order
    they were scheduled.
    """

    def __init__(self, start_ms: int, end_ms: int) -> None:
        self.start_ms = start_ms
        self.end_ms = end_ms
        minutes = -(-(end_ms - start_ms) // MINUTE_MS)
        self._minutes: list[list[tuple[int, int, Action, Any]]] = [[] for _ in range(minutes)]
        self._seq = 0

    def at(self, when_ms: int, action: Action, subject: Any) -> bool:
        """Schedule `action(when_ms, subject)`; False when it falls outside the day."""
        if not self.start_ms <= when_ms < self.end_ms:
            return False
        self._seq += 1
        minute = (when_ms - self.start_ms) // MINUTE_MS
        self._minutes[minute].append((when_ms, self._seq, action, subject))
        return True

    def at_each(self, times: list[int], action: Action, subject: Any) -> None:
        """Schedule `action(t, subject)` at each of `times`."""
        for when_ms in times:
            self.at(when_ms, action, subject)

    def run(self) -> None:
        for bucket in self._minutes:
            bucket.sort()
            scheduled = len(bucket)
            next_up = 0
            while next_up < len(bucket):
                if len(bucket) != scheduled:
                    # Something was scheduled within this very minute: put it in its place.
                    bucket[next_up:] = sorted(bucket[next_up:])
                    scheduled = len(bucket)
                when_ms, _, action, subject = bucket[next_up]
                next_up += 1
                action(when_ms, subject)
            bucket.clear()


@dataclass
class Floor:
    """What the channels and the warehouse share while the day runs."""

    day: TradingDay
    seed: int
    assortment: Assortment
    book: StockBook
    purses: dict[str, Purse]
    outbox: Outbox = field(default_factory=Outbox)
    timeline: Timeline = field(init=False)
    oversells: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.timeline = Timeline(self.day.start_ms, self.day.end_ms)

    def rng(self, purpose: str) -> Random:
        """This day's random stream for one purpose (a channel, the warehouse, the plan)."""
        return self.stream(self.seed, purpose)

    @staticmethod
    def stream(seed: int, purpose: str) -> Random:
        """A random stream of its own for one purpose of one seed.

        Separate streams keep one channel's draws from shifting another's when settings change.
        """
        return Random(f"{seed}:{purpose}")
