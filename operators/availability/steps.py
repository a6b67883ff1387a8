"""The availability steps as one composite operator, shared by the Kafka and the replay flows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import KeyedStream

from omnichannel.contracts.anomaly import Anomaly
from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.metrics import counting_batch_keys
from omnichannel.pickling import exchanged_as_avro
from operators.availability.logic import (
    DEFAULT_ORDER_RETENTION,
    OrderStockLogic,
    SkuAvailabilityLogic,
)
from operators.availability.order_events import OrderStockEvent
from operators.availability.sku_stock import AvailabilitySettings
from operators.availability.stock_changes import StockChange, StockDelta, stock_change
from operators.streams import only, stateful_batches, unkeyed
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
    snapshots: bool = True,
) -> AvailabilityOut:
    """Per-channel available-to-sell from order events (whole, or availability's view of them)
    and stock movements, and the oversells among the claims.

    `watermark` settles event time: on Kafka it learns where each source partition ends
    (`omnichannel.partition_ends`); without one, every source partition seen holds it back.
    `snapshots=False` for a flow run without recovery: the state is not copied for snapshots.
    """
    watermark = watermark or Watermark()
    # A whole order event (the replay's) crosses to another process as its Avro bytes.
    exchanged_as_avro(OrderEvent)
    # Each step takes a batch in one call: event time read so far is counted as the records
    # come in, before they part ways, and each record is keyed for its state.
    by_order = op.flat_map_batch(
        "observe_and_key_by_order", orders, lambda batch: _by_order(watermark, batch)
    )
    # Each order's events become stock changes, once, whatever their order of arrival.
    order_changes = stateful_batches(
        "order_stock",
        by_order,
        counting_batch_keys(
            "availability",
            "order_stock",
            lambda state: OrderStockLogic(state, order_retention),
            snapshots,
        ),
    )
    # Every location of a SKU in one state: a channel's number spans its locations.
    deltas = op.flat_map_batch("key_by_sku", order_changes, _by_sku)
    counted = op.flat_map_batch(
        "movements_by_sku", movements, lambda batch: _movements_by_sku(watermark, batch)
    )
    by_sku: KeyedStream[StockChange] = op.merge("all_changes", deltas, counted)
    published = stateful_batches(
        "sku_stock",
        by_sku,
        counting_batch_keys(
            "availability",
            "sku_stock",
            lambda state: SkuAvailabilityLogic(state, settings, watermark=watermark),
            snapshots,
        ),
    )
    results = unkeyed("drop_sku_key", published)
    return AvailabilityOut(
        only("updates", results, AvailabilityUpdate), only("anomalies", results, Anomaly)
    )


def _by_order(
    watermark: Watermark, batch: list[OrderStockEvent | OrderEvent]
) -> list[tuple[str, OrderStockEvent | OrderEvent]]:
    return [(_observed(watermark, event).correlation_id, event) for event in batch]


def _by_sku(batch: list[tuple[str, StockDelta]]) -> list[tuple[str, StockChange]]:
    return [(delta.sku, delta) for _, delta in batch]


def _movements_by_sku(
    watermark: Watermark, batch: list[InventoryMovement]
) -> list[tuple[str, StockChange]]:
    changes = [stock_change(watermark.observe(movement)) for movement in batch]
    return [(change.sku, change) for change in changes]


def _observed(
    watermark: Watermark, event: OrderStockEvent | OrderEvent
) -> OrderStockEvent | OrderEvent:
    if isinstance(event, OrderEvent):
        return watermark.observe(event)
    source = event.source
    watermark.observe_at((source[0], source[1]), source[2], event.event_time)
    return event
