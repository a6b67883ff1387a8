"""The availability steps as one composite operator, shared by the Kafka and the replay flows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import bytewax.operators as op
from bytewax.dataflow import Stream, operator

from omnichannel.contracts.anomaly import Anomaly
from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.metrics import counting_keys
from operators.availability.logic import (
    DEFAULT_ORDER_RETENTION,
    OrderStockLogic,
    SkuAvailabilityLogic,
)
from operators.availability.order_events import OrderStockEvent
from operators.availability.sku_stock import AvailabilitySettings, Published
from operators.availability.stock_changes import StockChange, stock_change
from operators.watermark import Watermark


@dataclass(frozen=True)
class AvailabilityOut:
    """What the availability steps publish."""

    updates: Stream[AvailabilityUpdate]
    anomalies: Stream[Anomaly]


@operator
def availability(
    step_id: str,
    orders: Stream[OrderStockEvent | OrderEvent],
    movements: Stream[InventoryMovement],
    settings: AvailabilitySettings,
    order_retention: timedelta = DEFAULT_ORDER_RETENTION,
    watermark: Watermark | None = None,
) -> AvailabilityOut:
    """Per-channel available-to-sell from order events (whole, or availability's view of them)
    and stock movements, and the oversells among the claims.

    `watermark` settles event time: on Kafka it learns where each source partition ends
    (`omnichannel.partition_ends`); without one, every source partition seen holds it back.
    """
    watermark = watermark or Watermark()
    # Event time read so far, counted as the records come in, before they part ways.
    orders = op.map("observe_orders", orders, lambda e: _observed(watermark, e))
    movements = op.map("observe_movements", movements, watermark.observe)
    # Each order's events become stock changes, once, whatever their order of arrival.
    by_order = op.key_on("key_by_order", orders, lambda event: event.correlation_id)
    order_changes = op.stateful(
        "order_stock",
        by_order,
        counting_keys(
            "availability", "order_stock", lambda state: OrderStockLogic(state, order_retention)
        ),
    )
    deltas = op.map("drop_order_key", order_changes, lambda keyed: keyed[1])
    counted = op.map("movement_as_change", movements, stock_change)
    changes: Stream[StockChange] = op.merge("all_changes", deltas, counted)
    # Every location of a SKU in one state: a channel's number spans its locations.
    by_sku = op.key_on("key_by_sku", changes, lambda change: change.sku)
    published = op.stateful(
        "sku_stock",
        by_sku,
        counting_keys(
            "availability",
            "sku_stock",
            lambda state: SkuAvailabilityLogic(state, settings, watermark=watermark),
        ),
    )
    results = op.map("drop_sku_key", published, lambda keyed: keyed[1])
    split = op.branch("updates_or_anomalies", results, _is_update)
    return AvailabilityOut(split.trues, split.falses)  # type: ignore[arg-type]


def _observed(
    watermark: Watermark, event: OrderStockEvent | OrderEvent
) -> OrderStockEvent | OrderEvent:
    if isinstance(event, OrderEvent):
        return watermark.observe(event)
    source = event.source
    watermark.observe_at((source[0], source[1]), source[2], event.event_time)
    return event


def _is_update(result: Published) -> bool:
    return isinstance(result, AvailabilityUpdate)
