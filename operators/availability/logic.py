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

from bytewax.operators import StatefulLogic

from omnichannel.contracts.order_event import OrderEvent
from operators.availability.order_events import OrderStockEvent
from operators.availability.order_stock import OrderStock
from operators.availability.sku_stock import AvailabilitySettings, Published, SkuStock
from operators.availability.stock_changes import StockChange, StockDelta

Clock = Callable[[], datetime]
DEFAULT_ORDER_RETENTION = timedelta(days=7)


def system_clock() -> datetime:
    return datetime.now(UTC)


def restored(snapshot: object) -> object:
    """A snapshot as Bytewax gives it back on resume: the state, or the bytes of older runs."""
    return pickle.loads(snapshot) if isinstance(snapshot, bytes) else snapshot


class OrderStockLogic(StatefulLogic[OrderStockEvent | OrderEvent, StockDelta, OrderStock]):
    """Keyed by order: folds its events into stock changes; forgotten after `retention` idle.

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

    def on_item(self, value: OrderStockEvent | OrderEvent) -> tuple[Iterable[StockDelta], bool]:
        self._last_seen = self._clock()
        if isinstance(value, OrderEvent):
            value = OrderStockEvent.of(value)
        return self.state.apply(value), StatefulLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[StockDelta], bool]:
        return (), StatefulLogic.DISCARD

    def notify_at(self) -> datetime | None:
        return self._last_seen + self._retention

    def snapshot(self) -> OrderStock:
        return self.state.copy()


class SkuAvailabilityLogic(StatefulLogic[StockChange, Published, SkuStock]):
    """Keyed by SKU: applies stock changes and publishes each channel's number.

    Its state, restored from a snapshot or new, was made in this execution: each of its keys
    publishes at its first change at once, superseding whatever a process that died may have
    published for it (`operators.availability.sku_stock`).
    """

    def __init__(
        self,
        snapshot: SkuStock | bytes | None,
        settings: AvailabilitySettings,
        clock: Clock = system_clock,
    ) -> None:
        self.state = cast(SkuStock, restored(snapshot)).copy() if snapshot else SkuStock()
        if snapshot:
            self.state.resumed()
        self._settings = settings
        self._clock = clock

    def on_item(self, value: StockChange) -> tuple[Iterable[Published], bool]:
        now = self._clock()
        outputs = self.state.apply(value, self._settings, now)
        if self.state.pending_until is not None and now >= self.state.pending_until:
            outputs.extend(self.state.flush(self._settings, now))
        return outputs, StatefulLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[Published], bool]:
        return self.state.flush(self._settings, self._clock()), StatefulLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[Published], bool]:
        return self.state.flush(self._settings, self._clock()), StatefulLogic.RETAIN

    def notify_at(self) -> datetime | None:
        return self.state.pending_until

    def snapshot(self) -> SkuStock:
        return self.state.copy()
