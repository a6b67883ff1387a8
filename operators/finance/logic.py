"""The finance step as Bytewax stateful logic, keyed by order, with an event-time watermark.

A waiting event's grace is measured in event time. An order's own state only sees its own
events, so the step shares a watermark between the orders of the process: the low watermark of
the source partitions its events came from, which never runs ahead of records not yet read
(`operators.watermark`; a floor of wall time covers the batches: see the ledger).
While events wait, the logic wakes every second (wall clock) to check it; at the end of a
bounded input every waiting event is let go.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import cast

from bytewax.operators import StatefulBatchLogic

from omnichannel.contracts.order_event import OrderEvent
from omnichannel.contracts.reconciliation import ReconciliationSummary
from operators.finance.ledger import FinanceOutput, FinanceSettings, OrderLedger
from operators.finance.reconciliation import ChannelBooks, Measure
from operators.watermark import Watermark

CHECK_EVERY = timedelta(seconds=1)
END_OF_TIME = datetime.max.replace(tzinfo=UTC)


class OrderLedgerLogic(StatefulBatchLogic[OrderEvent, FinanceOutput, OrderLedger]):
    """Posts one order's events (Bytewax hands it those of a batch in one call); a snapshot is
    a copy of the ledger, which Bytewax pickles only when recovery is on (several times cheaper
    than pickling it here; a snapshot pickled to bytes by an older version still resumes).

    An order with nothing waiting is forgotten after `settings.dedupe_horizon` without events
    (wall clock): a re-delivery later than that would be taken for a new event.
    """

    def __init__(
        self, snapshot: OrderLedger | bytes | None, settings: FinanceSettings, watermark: Watermark
    ) -> None:
        if isinstance(snapshot, bytes):
            snapshot = cast(OrderLedger, pickle.loads(snapshot))
        self.ledger = snapshot.copy() if snapshot else OrderLedger()
        self._settings = settings
        self._watermark = watermark
        self._last_seen = datetime.now(UTC)

    def on_batch(self, values: list[OrderEvent]) -> tuple[Iterable[FinanceOutput], bool]:
        now = self._last_seen = datetime.now(UTC)
        self._watermark.observe_many(values)
        apply, settings = self.ledger.apply, self._settings
        outputs: list[FinanceOutput] = []
        for value in values:
            outputs.extend(apply(value, settings, now))
        outputs.extend(self._expire(now))
        return outputs, StatefulBatchLogic.RETAIN

    def on_item(self, value: OrderEvent) -> tuple[Iterable[FinanceOutput], bool]:
        """One event (a batch of one)."""
        return self.on_batch([value])

    def on_notify(self) -> tuple[Iterable[FinanceOutput], bool]:
        now = datetime.now(UTC)
        if not self.ledger.waiting and now >= self._last_seen + self._settings.dedupe_horizon:
            return (), StatefulBatchLogic.DISCARD
        return self._expire(now), StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[FinanceOutput], bool]:
        # The input has ended: nothing more can come for what waits.
        expired = self.ledger.expire(END_OF_TIME, self._settings, END_OF_TIME)
        return expired, StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        if self.ledger.waiting:
            return datetime.now(UTC) + CHECK_EVERY
        return self._last_seen + self._settings.dedupe_horizon

    def snapshot(self) -> OrderLedger:
        return self.ledger.copy()

    def _expire(self, now: datetime) -> list[FinanceOutput]:
        if not self.ledger.waiting:
            return []
        watermark = self._watermark.value()
        if watermark is None:
            return []
        return self.ledger.expire(watermark, self._settings, now)


class ReconciliationLogic(StatefulBatchLogic[Measure, ReconciliationSummary, bytes]):
    """Keyed by (channel, currency): hourly windows of what was ordered, shipped and posted.

    A few keys take every measure, so a batch gives each its many in one call (they are
    added one by one, in their order, at one instant). Snapshots are the pickled books, as
    those `op.stateful` took under the same step id."""

    def __init__(self, snapshot: bytes | None, grace: timedelta) -> None:
        self.books: ChannelBooks = pickle.loads(snapshot) if snapshot else ChannelBooks()
        self._grace = grace

    def on_batch(self, values: list[Measure]) -> tuple[Iterable[ReconciliationSummary], bool]:
        now, grace, add = datetime.now(UTC), self._grace, self.books.add
        summaries: list[ReconciliationSummary] = []
        for value in values:
            summaries.extend(add(value, grace, now))
        return summaries, StatefulBatchLogic.RETAIN

    def on_item(self, value: Measure) -> tuple[Iterable[ReconciliationSummary], bool]:
        """One measure (a batch of one)."""
        return self.on_batch([value])

    def on_eof(self) -> tuple[Iterable[ReconciliationSummary], bool]:
        return self.books.close(END_OF_TIME, datetime.now(UTC)), StatefulBatchLogic.RETAIN

    def snapshot(self) -> bytes:
        return pickle.dumps(self.books, protocol=pickle.HIGHEST_PROTOCOL)
