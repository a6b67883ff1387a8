"""Small canonical events for the availability tests, built from the CHANNELS.md examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from omnichannel.contracts.order_event import OrderEvent
from omnichannel.reference import load_reference
from omnichannel.topics import Topics
from operators.adapters.raw import RawRecord
from operators.normalize import Normalizer
from tests.unit import channel_examples as ex
from tests.unit.test_adapters import changed

REFERENCE = load_reference()
NORMALIZER = Normalizer.for_topics(REFERENCE, Topics())
T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def event(topic: str, payload: dict[str, Any]) -> OrderEvent:
    result = NORMALIZER.normalize(RawRecord(topic, 0, 0, None, ex.encoded(payload)), T0)
    assert isinstance(result, OrderEvent), result
    return result


def web_order(topic: str = "orders/create", minute: int = 0) -> OrderEvent:
    """The CHANNELS.md web order: two units of SKU-1001 from DC-EAST."""
    payload = changed(ex.WEB_ORDER, "topic", topic)
    return event("orders.web", changed(payload, "updated_at", at(minute)))


def web_fulfillment(document: int = 4400001, minute: int = 30, quantity: int = 2) -> OrderEvent:
    payload = changed(ex.WEB_FULFILLMENT, "id", document)
    payload = changed(payload, "created_at", at(minute))
    return event("orders.web", changed(payload, "line_items.0.quantity", quantity))


def web_refund(restock: bool = True, minute: int = 60, quantity: int = 1) -> OrderEvent:
    payload = changed(ex.WEB_REFUND, "restock", restock)
    payload = changed(payload, "created_at", at(minute))
    return event("orders.web", changed(payload, "refund_line_items.0.quantity", quantity))


def marketplace(status: str, minute: int) -> OrderEvent:
    payload = changed(ex.MARKETPLACE_ORDER, "OrderStatus", status)
    return event("orders.marketplace", changed(payload, "LastUpdateDate", at(minute)))


def pos(kind: str = "SALE", receipt: int = 88121, voids: int | None = None) -> OrderEvent:
    payload = changed(changed(ex.POS_SALE, "type", kind), "receipt_no", receipt)
    if kind == "RETURN":
        payload = changed(payload, "lines.0.original_receipt_no", 88000)
    if voids is not None:
        payload = changed(payload, "voids_receipt_no", voids)
    return event("orders.pos", payload)
