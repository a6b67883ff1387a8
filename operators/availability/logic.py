"""The availability steps as Bytewax stateful logic: per order, then per SKU.

Bytewax asks for a snapshot of each key changed in an epoch, with or without recovery, and
pickles it only when recovery is on. A snapshot is a copy of the state made for it (`copy`,
which shares the immutable parts): several times cheaper than pickling it here, which the
snapshots did before; a snapshot of that older form (pickled bytes) still resumes.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import cast

from bytewax.operators import StatefulBatchLogic

from omnichannel.contracts.order_event import OrderEvent
from operators.availability.order_events import OrderStockEvent
from operators.availability.order_stock import OrderStock
from operators.availability.sku_stock import AvailabilitySettings, Published, SkuStock
from operators.availability.stock_changes import StockChange, StockDelta
from operators.watermark import END_OF_TIME, AllRead, Watermark

Clock = Callable[[], datetime]
DEFAULT_ORDER_RETENTION = timedelta(days=7)
# How often a SKU with claims waiting looks whether the watermark lets them be judged.
SETTLE_EVERY = timedelta(seconds=5)


def system_clock() -> datetime:
    return datetime.now(UTC)


def restored(snapshot: object) -> object:
    """A snapshot as Bytewax gives it back on resume: the state, or the bytes of older runs."""
    return pickle.loads(snapshot) if isinstance(snapshot, bytes) else snapshot


class OrderStockLogic(StatefulBatchLogic[OrderStockEvent | OrderEvent, StockDelta, OrderStock]):
    """Keyed by order: folds its events into stock changes; forgotten after `retention` idle.
    Bytewax hands it the order's events of a batch in one call.

    It takes the availability view of an order event, or a whole event (the replay flow's).
    An order's state is kept for `retention` after its last event (wall clock), so that a
    re-delivery within that horizon is recognised; later, it would count as a new order.
    """

    def __init__(
        self, snapshot: OrderStock | bytes | None, retention: timedelta, clock: Clock = system_clock
    ) -> None:
        self.state = cast(OrderStock, restored(snapshot)).copy() if snapshot else OrderStock()
        self._retention = retention
        self._clock = clock
        self._last_seen = clock()

    def on_batch(
        self, values: list[OrderStockEvent | OrderEvent]
    ) -> tuple[Iterable[StockDelta], bool]:
        self._last_seen = self._clock()
        apply = self.state.apply
        changes: list[StockDelta] = []
        for value in values:
            if isinstance(value, OrderEvent):
                value = OrderStockEvent.of(value)
            changes.extend(apply(value))
        return changes, StatefulBatchLogic.RETAIN

    def on_item(self, value: OrderStockEvent | OrderEvent) -> tuple[Iterable[StockDelta], bool]:
        """One event (a batch of one)."""
        return self.on_batch([value])

    def on_notify(self) -> tuple[Iterable[StockDelta], bool]:
        return (), StatefulBatchLogic.DISCARD

    def notify_at(self) -> datetime | None:
        return self._last_seen + self._retention

    def snapshot(self) -> OrderStock:
        return self.state.copy()


class SkuAvailabilityLogic(StatefulBatchLogic[StockChange, Published, SkuStock]):
    """Keyed by SKU: applies stock changes, publishes each channel's number, and judges claims
    for oversell once event time has settled (`operators.availability.settling`).

    Its state, restored from a snapshot or new, was made in this execution: each of its keys
    publishes at its first change at once, superseding whatever a process that died may have
    published for it (`operators.availability.sku_stock`).

    Claims are judged in `on_notify`, every `SETTLE_EVERY` while any wait, up to the watermark
    as it was at the wake before, less the grace: by then what was read before that wake has
    reached this step, whichever worker read it. At the end of a bounded input, all are.
    """

    def __init__(
        self,
        snapshot: SkuStock | bytes | None,
        settings: AvailabilitySettings,
        clock: Clock = system_clock,
        watermark: Watermark | AllRead | None = None,
    ) -> None:
        self.state = cast(SkuStock, restored(snapshot)).copy() if snapshot else SkuStock()
        if snapshot:
            self.state.resumed()
        self._settings = settings
        self._watermark = watermark or AllRead()
        self._clock = clock
        self._seen: datetime | None = None  # the watermark at the wake before

    def on_batch(self, values: list[StockChange]) -> tuple[Iterable[Published], bool]:
        # The SKU's changes of a batch, in their order of arrival, at one instant.
        now = self._clock()
        watermark = self._watermark.value()
        state, settings = self.state, self._settings
        outputs: list[Published] = []
        for value in values:
            outputs.extend(state.apply(value, settings, now, watermark))
        if state.pending_until is not None and now >= state.pending_until:
            outputs.extend(state.flush(settings, now, watermark))
        return outputs, StatefulBatchLogic.RETAIN

    def on_item(self, value: StockChange) -> tuple[Iterable[Published], bool]:
        """One change (a batch of one)."""
        return self.on_batch([value])

    def on_notify(self) -> tuple[Iterable[Published], bool]:
        now = self._clock()
        watermark = self._watermark.value()
        through = None if self._seen is None else self._seen - self._settings.oversell_grace
        outputs = self.state.settle(through, self._settings, now, watermark)
        self._seen = watermark
        if self.state.pending_until is not None and now >= self.state.pending_until:
            outputs.extend(self.state.flush(self._settings, now, watermark))
        return outputs, StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[Published], bool]:
        now = self._clock()
        outputs = self.state.settle(END_OF_TIME, self._settings, now, END_OF_TIME)
        outputs.extend(self.state.flush(self._settings, now, END_OF_TIME))
        return outputs, StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        now = self._clock()
        release = self.state.next_release(self._settings, self._watermark.value(), now)
        due = [self.state.pending_until, release]
        if self.state.settled.unsettled:
            due.append(now + SETTLE_EVERY)
        return min((at for at in due if at is not None), default=None)

    def snapshot(self) -> SkuStock:
        return self.state.copy()
