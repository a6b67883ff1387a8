"""Each channel's adapter on the CHANNELS.md examples and on the edge cases around them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.order_event import OrderEvent, OrderEventType
from omnichannel.contracts.settlement import Settlement
from omnichannel.reference import load_reference
from omnichannel.topics import Topics
from operators.adapters.raw import RawRecord
from operators.normalize import Canonical, Normalizer
from tests.unit import channel_examples as ex

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
NORMALIZER = Normalizer.for_topics(load_reference(), Topics())
R = ExceptionReason


def normalize(topic: str, value: bytes | dict[str, Any]) -> Canonical | ExceptionRecord:
    raw_value = value if isinstance(value, bytes) else ex.encoded(value)
    return NORMALIZER.normalize(RawRecord(topic, 2, 77, b"key", raw_value, 1_764_000_000_000), NOW)


def refused(topic: str, value: bytes | dict[str, Any]) -> ExceptionRecord:
    result = normalize(topic, value)
    assert isinstance(result, ExceptionRecord), f"expected a refusal, got {result!r}"
    return result


def changed(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of the payload with one field (dotted path, list indexes) set or removed."""
    document = copy.deepcopy(payload)
    *parents, last = path.split(".")
    node: Any = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is REMOVE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return document


REMOVE = object()


def test_web_order_example() -> None:
    event = normalize("orders.web", ex.WEB_ORDER)
    assert isinstance(event, OrderEvent)
    assert event.event_type is OrderEventType.PLACED
    assert event.event_id == "web:orders/create:820982911946154508:2026-11-27T08:15:02Z"
    assert event.correlation_id == "web:820982911946154508"
    assert (event.location, event.currency) == ("DC-EAST", "USD")
    line = event.lines[0]
    assert (line.sku, line.quantity, line.net_amount, line.tax_amount) == (
        "SKU-1001",
        2,
        Decimal("59.98"),
        Decimal("4.88"),
    )
    assert line.taxes[0].tax_code == "US-NY-SALES"
    assert event.totals.grand_total == Decimal("64.86")
    assert event.event_time == datetime(2026, 11, 27, 8, 15, 2, tzinfo=UTC)
    assert event.source.topic == "orders.web"
    assert (event.source.partition, event.source.offset) == (2, 77)


def test_web_cancel_fulfilment_and_refund() -> None:
    cancelled = normalize("orders.web", changed(ex.WEB_ORDER, "topic", "orders/cancelled"))
    shipped = normalize("orders.web", ex.WEB_FULFILLMENT)
    refund = normalize("orders.web", ex.WEB_REFUND)
    assert isinstance(cancelled, OrderEvent)
    assert isinstance(shipped, OrderEvent)
    assert isinstance(refund, OrderEvent)
    assert cancelled.event_type is OrderEventType.CANCELLED
    assert shipped.event_type is OrderEventType.SHIPPED
    assert shipped.order_id == "820982911946154508"
    assert shipped.document_id == "4400001"
    assert refund.event_type is OrderEventType.REFUNDED
    assert refund.restock is True
    assert refund.totals.grand_total == Decimal("32.43")
    assert {shipped.correlation_id, refund.correlation_id} == {"web:820982911946154508"}


def test_exact_redelivery_keeps_its_identity_and_an_update_does_not() -> None:
    first = normalize("orders.web", ex.WEB_ORDER)
    again = normalize("orders.web", ex.WEB_ORDER)
    later = normalize("orders.web", changed(ex.WEB_ORDER, "updated_at", "2026-11-27T09:00:00Z"))
    assert isinstance(first, OrderEvent)
    assert isinstance(again, OrderEvent)
    assert isinstance(later, OrderEvent)
    assert first.event_id == again.event_id != later.event_id


@pytest.mark.parametrize(
    ("path", "value", "reason", "named"),
    [
        ("line_items.0.tax_lines.0.title", "US-ZZ", R.UNKNOWN_TAX_CODE, "line_items.0.tax_lines.0"),
        ("line_items.0.sku", "SKU-9", R.UNKNOWN_SKU, "line_items.0.sku"),
        ("fulfillment_location", "DC-NOWHERE", R.UNKNOWN_LOCATION, "fulfillment_location"),
        ("fulfillment_location", "S-015", R.UNKNOWN_LOCATION, "does not serve channel web"),
        ("currency", "XXX", R.UNKNOWN_CURRENCY, "currency"),
        ("currency", "JPY", R.CURRENCY_NOT_ACCEPTED, "does not accept JPY"),
        ("total_price", "64.87", R.TOTALS_MISMATCH, "total_price"),
        ("total_tax", "4.89", R.TOTALS_MISMATCH, "total_tax"),
        ("subtotal_price", "59.99", R.TOTALS_MISMATCH, "subtotal_price"),
        ("line_items.0.quantity", 0, R.INVALID_QUANTITY, "line_items.0.quantity"),
        ("line_items.0.quantity", 10**9, R.INVALID_QUANTITY, "line_items.0.quantity"),
        ("line_items.0.price", "29.999", R.INVALID_AMOUNT, "3 decimal places"),
        ("line_items.0.price", "-29.99", R.INVALID_AMOUNT, "must not be negative"),
        ("line_items.0.price", "NaN", R.INVALID_AMOUNT, "line_items.0.price"),
        ("line_items.0.price", "twenty", R.INVALID_AMOUNT, "not a decimal"),
        ("line_items.0.quantity", "2", R.INVALID_PAYLOAD, "line_items.0.quantity"),
        ("line_items", [], R.INVALID_PAYLOAD, "line_items"),
        ("id", REMOVE, R.INVALID_PAYLOAD, "id: Field required"),
        ("updated_at", "2026-11-27T08:15:02", R.INVALID_PAYLOAD, "has no timezone"),
        ("updated_at", "yesterday", R.INVALID_PAYLOAD, "updated_at"),
        ("topic", "orders/paid", R.INVALID_PAYLOAD, "unknown webhook topic"),
    ],
)
def test_web_order_refusals_name_the_field(path: str, value: Any, reason: R, named: str) -> None:
    refusal = refused("orders.web", changed(ex.WEB_ORDER, path, value))
    assert refusal.reason is reason
    assert named in refusal.message


def test_money_arriving_as_a_json_number_is_refused_not_floated() -> None:
    text = ex.encoded(ex.WEB_ORDER).replace(b'"price": "29.99"', b'"price": 29.99')
    refusal = refused("orders.web", text)
    assert refusal.reason is R.INVALID_PAYLOAD
    assert "line_items.0.price" in refusal.message


def test_pos_sale_splits_tax_inclusive_price() -> None:
    sale = normalize("orders.pos", ex.POS_SALE)
    assert isinstance(sale, OrderEvent)
    assert sale.event_type is OrderEventType.STORE_SALE
    assert sale.event_id == "pos:S-014:88121"
    assert sale.order_id == sale.document_id == "S-014:88121"
    line = sale.lines[0]
    assert line.sku == "SKU-1001"
    assert (line.net_amount, line.tax_amount) == (Decimal("16.80"), Decimal("3.19"))
    assert line.net_amount + line.tax_amount == Decimal("19.99")
    assert sale.event_time == datetime(2026, 11, 27, 9, 2, 44, tzinfo=UTC)
    assert sale.tender == "CARD"


def test_pos_in_store_ean_return_and_void() -> None:
    ean = NORMALIZER.reference.in_store_ean("SKU-2040")
    returned = changed(changed(ex.POS_SALE, "type", "RETURN"), "lines.0.ean", ean)
    returned = changed(returned, "lines.0.original_receipt_no", 88100)
    event = normalize("orders.pos", returned)
    assert isinstance(event, OrderEvent)
    assert event.event_type is OrderEventType.STORE_RETURN
    assert event.restock is True
    assert event.lines[0].sku == "SKU-2040"
    assert event.lines[0].original_order_id == "S-014:88100"

    void = changed(changed(ex.POS_SALE, "type", "VOID"), "voids_receipt_no", 88120)
    voided = normalize("orders.pos", changed(void, "receipt_no", 88122))
    assert isinstance(voided, OrderEvent)
    assert voided.event_type is OrderEventType.STORE_VOID
    assert voided.order_id == voided.related_document_id == "S-014:88120"
    assert voided.document_id == "S-014:88122"


@pytest.mark.parametrize(
    ("path", "value", "reason", "named"),
    [
        ("lines.0.ean", "4006381333948", R.UNKNOWN_EAN, "lines.0.ean"),
        ("lines.0.tax_code", "DE-99", R.UNKNOWN_TAX_CODE, "lines.0.tax_code"),
        ("total", "19.98", R.TOTALS_MISMATCH, "total"),
        ("store_id", "DC-EAST", R.UNKNOWN_LOCATION, "does not serve channel pos"),
        ("currency", "USD", R.CURRENCY_NOT_ACCEPTED, "USD"),
        ("lines.0.discount", "25.00", R.INVALID_AMOUNT, "exceeds"),
        ("lines.0.qty", -1, R.INVALID_QUANTITY, "lines.0.qty"),
        ("type", "REFUND", R.INVALID_PAYLOAD, "type"),
        ("lines", [], R.INVALID_PAYLOAD, "needs lines"),
        ("register", "3", R.INVALID_PAYLOAD, "register"),
    ],
)
def test_pos_refusals_name_the_field(path: str, value: Any, reason: R, named: str) -> None:
    refusal = refused("orders.pos", changed(ex.POS_SALE, path, value))
    assert refusal.reason is reason
    assert named in refusal.message


def test_pos_return_and_void_need_their_references() -> None:
    no_original = refused("orders.pos", changed(ex.POS_SALE, "type", "RETURN"))
    no_voided = refused("orders.pos", changed(ex.POS_SALE, "type", "VOID"))
    assert "original_receipt_no" in no_original.message
    assert "voids_receipt_no" in no_voided.message


@pytest.mark.parametrize(
    ("status", "event_type"),
    [
        ("Pending", OrderEventType.PENDING),
        ("Unshipped", OrderEventType.PLACED),
        ("Shipped", OrderEventType.SHIPPED),
        ("Canceled", OrderEventType.CANCELLED),
    ],
)
def test_marketplace_statuses(status: str, event_type: OrderEventType) -> None:
    event = normalize("orders.marketplace", changed(ex.MARKETPLACE_ORDER, "OrderStatus", status))
    assert isinstance(event, OrderEvent)
    assert event.event_type is event_type
    assert event.event_id == f"marketplace:113-5938264-0371421:{status}:2026-11-27T09:01:13Z"
    assert event.lines[0].net_amount == Decimal("38.97")
    assert event.lines[0].unit_price == Decimal("12.99")
    assert event.totals.grand_total == Decimal("41.97")


@pytest.mark.parametrize(
    ("path", "value", "reason", "named"),
    [
        ("OrderItems.0.ItemTax.CurrencyCode", "EUR", R.INVALID_PAYLOAD, "differs"),
        ("OrderItems.0.TaxCode", "B_XXX", R.UNKNOWN_TAX_CODE, "OrderItems.0.TaxCode"),
        ("OrderItems.0.SellerSKU", "FOO", R.UNKNOWN_SKU, "OrderItems.0.SellerSKU"),
        ("OrderTotal.Amount", "41.96", R.TOTALS_MISMATCH, "OrderTotal.Amount"),
        ("OrderStatus", "Unknown", R.INVALID_PAYLOAD, "OrderStatus"),
        ("ShipFromLocation", "S-014", R.UNKNOWN_LOCATION, "does not serve channel marketplace"),
    ],
)
def test_marketplace_refusals(path: str, value: Any, reason: R, named: str) -> None:
    refusal = refused("orders.marketplace", changed(ex.MARKETPLACE_ORDER, path, value))
    assert refusal.reason is reason
    assert named in refusal.message


def test_settlement_balances_or_is_refused() -> None:
    settlement = normalize("settlements.marketplace", ex.SETTLEMENT)
    assert isinstance(settlement, Settlement)
    assert settlement.deposit == Decimal("-3.87")
    assert [a.component for a in settlement.rows[0].amounts] == [
        "principal",
        "tax",
        "commission",
        "fba_fee",
    ]
    unbalanced = refused("settlements.marketplace", changed(ex.SETTLEMENT, "deposit", "1523.18"))
    assert unbalanced.reason is R.SETTLEMENT_UNBALANCED
    assert "difference 1527.05" in unbalanced.message


@pytest.mark.parametrize(
    ("movement_type", "sent", "canonical"),
    [
        ("RECEIPT", 120, 120),
        ("TRANSFER_IN", 5, 5),
        ("TRANSFER_OUT", 5, -5),
        ("DAMAGE", 2, -2),
        ("ADJUSTMENT", -3, -3),
        ("ADJUSTMENT", 4, 4),
        ("COUNT", 0, 0),
        ("COUNT", 57, 57),
    ],
)
def test_movement_quantities_become_signed(movement_type: str, sent: int, canonical: int) -> None:
    movement = normalize(
        "inventory.movements",
        changed(changed(ex.MOVEMENT, "type", movement_type), "quantity", sent),
    )
    assert isinstance(movement, InventoryMovement)
    assert movement.quantity == canonical
    assert movement.movement_type.value == movement_type.lower()


@pytest.mark.parametrize(
    ("movement_type", "sent"), [("ADJUSTMENT", 0), ("DAMAGE", -2), ("RECEIPT", 0), ("COUNT", -1)]
)
def test_impossible_movement_quantities(movement_type: str, sent: int) -> None:
    movement = changed(changed(ex.MOVEMENT, "type", movement_type), "quantity", sent)
    assert refused("inventory.movements", movement).reason is R.INVALID_QUANTITY


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\xff\xfe not utf-8", R.NOT_UTF8),
        (b'{"topic": "orders/create", ', R.MALFORMED_JSON),
        (b"[1, 2, 3]", R.INVALID_PAYLOAD),
        (b"{}", R.INVALID_PAYLOAD),
        (b'{"topic": "orders/create", "pad": "' + b"x" * 1_048_600 + b'"}', R.PAYLOAD_TOO_LARGE),
    ],
)
def test_unreadable_payloads_are_kept_whole(value: bytes, reason: R) -> None:
    refusal = refused("orders.web", value)
    assert refusal.reason is reason
    assert refusal.raw_value == value
    assert refusal.raw_key == b"key"
    assert refusal.exception_id == "orders.web:2:77"
    assert (refusal.source.topic, refusal.source.partition, refusal.source.offset) == (
        "orders.web",
        2,
        77,
    )


def test_a_topic_without_adapter_is_refused() -> None:
    assert "no adapter" in refused("orders.unknown", ex.WEB_ORDER).message
