"""State bytes per key: what the flows' stateful steps snapshot, measured on a sample of keys.

With recovery on, Bytewax stores per key and step what `snapshot()` returns, pickled. The
canonical records a normalization run wrote are read back; a stable sample of the keys (by
CRC-32 of the key) is run through the same `StatefulLogic` classes the flows use, with all of
each sampled key's events, and the length of each key's final snapshot, pickled, is taken.
The finance steps with a handful of keys (reconciliation, settlements) are left out.
"""

from __future__ import annotations

import pickle
import statistics
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from omnichannel.bench.workspace import END_MARKER_KEY, read_all
from omnichannel.codec import codec_for
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.reference import ReferenceData
from omnichannel.topics import Topics
from operators.availability.logic import (
    DEFAULT_ORDER_RETENTION,
    OrderStockLogic,
    SkuAvailabilityLogic,
)
from operators.availability.sku_stock import AvailabilitySettings
from operators.availability.stock_changes import StockChange, stock_change
from operators.finance.ledger import FinanceSettings
from operators.finance.logic import OrderLedgerLogic
from operators.watermark import Watermark

SAMPLE_BUCKETS = 10_000


@dataclass(frozen=True)
class StepState:
    """Snapshot sizes of one stateful step over the sampled keys."""

    step: str
    keys_total: int
    keys_sampled: int
    mean_bytes: float
    median_bytes: float
    max_bytes: int

    @property
    def estimated_total_bytes(self) -> int:
        return round(self.mean_bytes * self.keys_total)


def sampled(key: str, fraction: float) -> bool:
    """A stable choice of about `fraction` of all keys."""
    return zlib.crc32(key.encode()) % SAMPLE_BUCKETS < fraction * SAMPLE_BUCKETS


def measure_state(
    brokers: list[str],
    canonical: Topics,
    reference: ReferenceData,
    coalesce: timedelta,
    fraction: float,
) -> dict[str, StepState]:
    """Snapshot sizes of the availability and finance steps, from a normalization run's output."""
    orders_codec = codec_for(OrderEvent, None)
    movements_codec = codec_for(InventoryMovement, None)
    orders: dict[str, list[OrderEvent]] = {}
    for message in read_all(brokers, canonical.canonical_orders):
        if message.key() != END_MARKER_KEY:
            event = orders_codec.decode_model(message.value() or b"")
            orders.setdefault(event.correlation_id, []).append(event)
    movements = [
        movements_codec.decode_model(message.value() or b"")
        for message in read_all(brokers, canonical.canonical_movements)
        if message.key() != END_MARKER_KEY
    ]
    skus = {m.sku for m in movements} | {
        line.sku for events in orders.values() for event in events for line in event.lines
    }
    sample_orders = {key for key in orders if sampled(key, fraction)}
    sample_skus = {sku for sku in skus if sampled(sku, fraction)}

    order_sizes: list[int] = []
    # Per sampled SKU, its changes with the moment their input was produced, to apply them in
    # the order the flow would have seen them.
    changes: dict[str, list[tuple[float, int, StockChange]]] = {sku: [] for sku in sample_skus}
    for key, events in orders.items():
        touches = any(line.sku in sample_skus for event in events for line in event.lines)
        if key not in sample_orders and not touches:
            continue
        logic = OrderStockLogic(None, DEFAULT_ORDER_RETENTION)
        for event in events:
            deltas, _ = logic.on_item(event)
            for delta in deltas:
                if delta.sku in changes:
                    changes[delta.sku].append((_produced(event), len(changes[delta.sku]), delta))
        if key in sample_orders:
            order_sizes.append(_pickled(logic.snapshot()))
    for movement in movements:
        if movement.sku in changes:
            arrived = (_produced(movement), len(changes[movement.sku]), stock_change(movement))
            changes[movement.sku].append(arrived)

    settings = AvailabilitySettings(reference, coalesce=coalesce)
    sku_sizes = []
    for sku_changes in changes.values():
        sku_logic = SkuAvailabilityLogic(None, settings)
        for _, _, change in sorted(sku_changes, key=lambda arrived: arrived[:2]):
            sku_logic.on_item(change)
        sku_sizes.append(_pickled(sku_logic.snapshot()))

    finance = FinanceSettings(reference)
    watermark = Watermark()
    ledger_sizes = []
    for key in sample_orders:
        ledger = OrderLedgerLogic(None, finance, watermark)
        for event in orders[key]:
            ledger.on_item(event)
        ledger_sizes.append(_pickled(ledger.snapshot()))

    return {
        "order_stock": _summary("availability.order_stock", len(orders), order_sizes),
        "sku_stock": _summary("availability.sku_stock", len(skus), sku_sizes),
        "order_ledger": _summary("finance.order_ledger", len(orders), ledger_sizes),
    }


def bytes_per_key(steps: Iterable[StepState]) -> float:
    """Estimated snapshot bytes of all the steps' keys, over the number of their keys."""
    chosen = list(steps)
    keys = sum(step.keys_total for step in chosen)
    return sum(step.estimated_total_bytes for step in chosen) / keys if keys else 0.0


def _pickled(snapshot: object) -> int:
    return len(pickle.dumps(snapshot))


def _produced(record: OrderEvent | InventoryMovement) -> float:
    stamp = record.source.timestamp
    return stamp.timestamp() if stamp is not None else 0.0


def _summary(step: str, total: int, sizes: list[int]) -> StepState:
    return StepState(
        step=step,
        keys_total=total,
        keys_sampled=len(sizes),
        mean_bytes=statistics.fmean(sizes) if sizes else 0.0,
        median_bytes=statistics.median(sizes) if sizes else 0.0,
        max_bytes=max(sizes, default=0),
    )
