"""A warehouse movement that changes nothing is reported, never dropped silently.

A movement whose event time is before its position's cycle count is already inside the count
(`movement_absorbed`); a movement delivered again with the same movement id is applied once
(`duplicate_event`). Both are informational: stock is right either way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from omnichannel import metrics
from omnichannel.codec import codec_for
from omnichannel.contracts.anomaly import Anomaly, AnomalyType
from omnichannel.contracts.common import SourceCoordinates
from omnichannel.contracts.inventory import InventoryMovement, MovementType
from omnichannel.reference import load_reference
from operators.availability.positions import Position
from operators.availability.sku_stock import AvailabilitySettings, Published, SkuStock
from operators.availability.stock_changes import StockCount, StockDelta, stock_change

REFERENCE = load_reference()
RULES = AvailabilitySettings(REFERENCE, coalesce=timedelta(0))
T = datetime(2026, 11, 27, 10, tzinfo=UTC)
SKU = "SKU-1001"


def at(minutes: int) -> datetime:
    return T + timedelta(minutes=minutes)


def receipt(units: int, minute: int, movement_id: str | None = "WMS-1") -> StockDelta:
    return StockDelta(SKU, "DC-EAST", units, 0, at(minute), movement_id=movement_id)


def count(counted: int, minute: int, movement_id: str | None = "CC-1") -> StockCount:
    return StockCount(SKU, "DC-EAST", counted, at(minute), movement_id)


def anomalies(outputs: list[Published]) -> list[Anomaly]:
    return [output for output in outputs if isinstance(output, Anomaly)]


def test_a_position_says_when_a_count_leaves_a_change_out() -> None:
    position = Position()
    assert position.count(40, at(10)) is True
    assert position.apply(5, 0, at(5), timedelta(days=2)) is False
    assert position.apply(0, 3, at(5), timedelta(days=2)) is True  # no on-hand: nothing left out
    assert position.apply(5, 0, at(10), timedelta(days=2)) is True
    assert position.count(50, at(10)) is False
    assert (position.on_hand, position.reserved) == (45, 3)


def test_a_receipt_from_before_the_count_is_reported_as_absorbed() -> None:
    stock = SkuStock()
    stock.apply(count(40, minute=10), RULES, T)
    # Sent again by the WMS after the count, which already had it on the shelf.
    (absorbed,) = anomalies(stock.apply(receipt(12, minute=5, movement_id="WMS-7"), RULES, T))
    assert stock.positions["DC-EAST"].on_hand == 40
    assert absorbed.anomaly_type is AnomalyType.MOVEMENT_ABSORBED
    assert absorbed.anomaly_id == "movement_absorbed:movement:WMS-7"
    assert absorbed.entity_id == f"{SKU}@DC-EAST"
    assert absorbed.correlation_id == "movement:WMS-7"
    assert (absorbed.quantity, absorbed.event_time, absorbed.channel) == (12, at(5), None)
    assert absorbed.details == {
        "movement_id": "WMS-7",
        "sku": SKU,
        "location": "DC-EAST",
        "counted_at": at(10).isoformat(),
        "on_hand": "40",
    }
    assert "settled by the count as of 2026-11-27T10:10:00+00:00" in absorbed.message


def test_a_movement_in_the_counts_own_second_or_later_applies_and_is_not_reported() -> None:
    stock = SkuStock()
    stock.apply(count(40, minute=10), RULES, T)
    assert anomalies(stock.apply(receipt(3, minute=10, movement_id="WMS-2"), RULES, T)) == []
    assert anomalies(stock.apply(receipt(-1, minute=11, movement_id="WMS-3"), RULES, T)) == []
    assert stock.positions["DC-EAST"].on_hand == 42


def test_an_order_shipment_before_the_count_is_absorbed_without_a_report() -> None:
    stock = SkuStock()
    stock.apply(count(40, minute=10), RULES, T)
    shipped = StockDelta(SKU, "DC-EAST", -2, -2, at(5), order_id="1001")
    assert anomalies(stock.apply(shipped, RULES, T)) == []
    assert (stock.positions["DC-EAST"].on_hand, stock.positions["DC-EAST"].reserved) == (40, -2)


def test_a_count_older_than_the_last_count_is_reported_as_absorbed() -> None:
    stock = SkuStock()
    stock.apply(count(40, minute=10, movement_id="CC-2"), RULES, T)
    (older,) = anomalies(stock.apply(count(55, minute=5, movement_id="CC-1"), RULES, T))
    assert older.anomaly_type is AnomalyType.MOVEMENT_ABSORBED
    assert (older.quantity, older.details["counted_at"]) == (55, at(10).isoformat())
    assert "a count of 55" in older.message
    assert stock.positions["DC-EAST"].on_hand == 40


def test_a_count_older_than_the_changes_kept_is_reported() -> None:
    rules = AvailabilitySettings(REFERENCE, coalesce=timedelta(0), count_horizon=timedelta(hours=1))
    stock = SkuStock()
    stock.apply(receipt(100, minute=0, movement_id="WMS-1"), rules, T)
    stock.apply(receipt(-5, minute=200, movement_id="WMS-2"), rules, T)
    (ignored,) = anomalies(stock.apply(count(60, minute=10), rules, T))
    assert ignored.anomaly_type is AnomalyType.MOVEMENT_ABSORBED
    assert ignored.details["counted_at"] == ""
    assert "older than the changes the position keeps" in ignored.message
    assert stock.positions["DC-EAST"].on_hand == 95


def test_a_movement_delivered_again_is_a_duplicate_event_with_one_id() -> None:
    stock = SkuStock()
    stock.apply(receipt(20, minute=0), RULES, T)
    first = anomalies(stock.apply(receipt(20, minute=0), RULES, T))
    second = anomalies(stock.apply(receipt(20, minute=0), RULES, T))
    assert [a.anomaly_type for a in first] == [AnomalyType.DUPLICATE_EVENT]
    assert first[0].anomaly_id == second[0].anomaly_id == "duplicate_event:movement:WMS-1"
    assert "delivered again, applied once" in first[0].message
    assert stock.positions["DC-EAST"].on_hand == 20


def test_a_count_delivered_again_is_a_duplicate_not_an_absorbed_movement() -> None:
    stock = SkuStock()
    stock.apply(count(40, minute=10), RULES, T)
    (again,) = anomalies(stock.apply(count(40, minute=10), RULES, T))
    assert again.anomaly_type is AnomalyType.DUPLICATE_EVENT
    assert again.anomaly_id == "duplicate_event:movement:CC-1"


def test_a_canonical_count_carries_its_movement_id() -> None:
    movement = InventoryMovement(
        movement_id="WMS-CC-9",
        movement_type=MovementType.COUNT,
        sku=SKU,
        location="DC-EAST",
        quantity=7,
        event_time=T,
        correlation_id="movement:WMS-CC-9",
        source=SourceCoordinates(topic="inventory.movements", partition=0, offset=1, key=SKU),
    )
    change = stock_change(movement)
    assert change == StockCount(SKU, "DC-EAST", 7, T, "WMS-CC-9")


def test_the_new_kind_encodes_and_is_counted_by_type() -> None:
    stock = SkuStock()
    stock.apply(count(40, minute=10), RULES, T)
    found = anomalies(stock.apply(receipt(12, minute=5), RULES, T))
    found += anomalies(stock.apply(receipt(12, minute=5), RULES, T))
    codec = codec_for(Anomaly, None)
    assert [codec.decode_model(codec.encode_model(a)) for a in found] == found
    flow = "test_movements_reported"
    metrics.anomalies(flow)(found)
    sample = REGISTRY.get_sample_value
    assert sample("omni_anomalies_total", {"flow": flow, "type": "movement_absorbed"}) == 1
    assert sample("omni_anomalies_total", {"flow": flow, "type": "duplicate_event"}) == 1
    assert (
        sample("omni_duplicates_suppressed_total", {"flow": flow, "kind": "duplicate_event"}) == 1
    )
