"""The trading day's clock: its window in epoch milliseconds and timestamps as channels write them.

The generator keeps time as integer epoch milliseconds (UTC) and formats it only when a payload
is written: web, marketplace and warehouse timestamps in UTC with `Z`, store receipts in the
stores' local time with its offset. Formatting is hand-rolled because it runs once per record.
"""

from __future__ import annotations

from bisect import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from random import Random

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

# The reference stores are in Germany and late November is winter time (CET).
STORE_UTC_OFFSET_MS = HOUR_MS
STORE_UTC_OFFSET_TEXT = "+01:00"

_EPOCH = date(1970, 1, 1)


class _DateTexts(dict[int, str]):
    """`2026-11-27T` by epoch day, made on first use."""

    def __missing__(self, epoch_day: int) -> str:
        text = self[epoch_day] = f"{_EPOCH + timedelta(days=epoch_day)}T"
        return text


# Timestamps are written on every record: dates and clock times are formatted once each.
_DATES = _DateTexts()
_CLOCK = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]


def iso_utc(ms: int) -> str:
    """`2026-11-27T08:15:02Z`: the instant, to the second, in UTC."""
    second = ms // SECOND_MS
    return _DATES[second // 86_400] + _CLOCK[second % 86_400] + "Z"


def iso_store(ms: int) -> str:
    """`2026-11-27T10:02:44+01:00`: the instant in the stores' local time, with its offset."""
    second = (ms + STORE_UTC_OFFSET_MS) // SECOND_MS
    return _DATES[second // 86_400] + _CLOCK[second % 86_400] + STORE_UTC_OFFSET_TEXT


def between(rng: Random, low: int, high: int) -> int:
    """A whole number in `[low, high)`: `randrange`'s job, at a third of its cost per record."""
    return low + int(rng.random() * (high - low))


@dataclass(frozen=True)
class TradingDay:
    """The day's window, `[start_ms, end_ms)` in UTC, and the times things happen in it."""

    day: date
    start_ms: int
    end_ms: int

    @classmethod
    def of(cls, day: date) -> TradingDay:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        start_ms = int(start.timestamp()) * SECOND_MS
        return cls(day, start_ms, start_ms + DAY_MS)

    def arrivals(
        self, rng: Random, weights: tuple[float, ...], count: int, local_offset_ms: int = 0
    ) -> list[int]:
        """`count` instants spread over the day's hours by `weights` (hours in local time)."""
        cumulative = list(accumulate(weights))
        total = cumulative[-1]
        midnight = self.start_ms - local_offset_ms
        times = []
        for _ in range(count):
            hour = bisect(cumulative, rng.random() * total)
            times.append(midnight + min(hour, 23) * HOUR_MS + between(rng, 0, HOUR_MS))
        return [t for t in times if self.start_ms <= t < self.end_ms]
