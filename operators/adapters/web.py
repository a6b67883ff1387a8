"""Web shop webhooks (Shopify-style) to canonical order events.

`orders/create` places the order, `orders/cancelled` cancels it, `fulfillments/create` ships
lines from a location, `refunds/create` refunds lines (and restocks them when it says so). An
exact re-delivery has the same id, topic and `updated_at`, hence the same `event_id`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from omnichannel.contracts.common import MONEY_SCALE, Channel
from omnichannel.contracts.exception_record import ExceptionReason
from omnichannel.contracts.order_event import (
    Discount,
    OrderEvent,
    OrderEventType,
    OrderLine,
    OrderTotals,
    ShippingCharge,
    TaxAmount,
)
from omnichannel.reference import ReferenceData
from operators.adapters import fields
from operators.adapters.fields import Payload
from operators.adapters.raw import RawRecord, Refused

CHANNEL = Channel.WEB
ZERO = Decimal(0)


class WebTaxLine(Payload):
    title: str
    rate: str
    price: str


class WebLineItem(Payload):
    id: int
    sku: str
    quantity: int
    price: str
    tax_lines: list[WebTaxLine] = []


class WebShippingLine(Payload):
    code: str
    price: str


class WebDiscountCode(Payload):
    code: str
    amount: str


class WebOrder(Payload):
    topic: Literal["orders/create", "orders/cancelled"]
    id: int
    name: str
    created_at: str
    updated_at: str
    currency: str
    subtotal_price: str
    total_tax: str
    total_discounts: str
    total_price: str
    shipping_lines: list[WebShippingLine] = []
    discount_codes: list[WebDiscountCode] = []
    fulfillment_location: str
    line_items: list[WebLineItem] = Field(min_length=1)


class WebFulfilledLine(Payload):
    sku: str
    quantity: int


class WebFulfillment(Payload):
    topic: Literal["fulfillments/create"]
    id: int
    order_id: int
    created_at: str
    location: str
    line_items: list[WebFulfilledLine] = Field(min_length=1)


class WebRefundLine(Payload):
    sku: str
    quantity: int
    subtotal: str
    total_tax: str


class WebRefund(Payload):
    topic: Literal["refunds/create"]
    id: int
    order_id: int
    created_at: str
    restock: bool
    location: str
    refund_line_items: list[WebRefundLine] = Field(min_length=1)
    shipping_refund: str = "0.00"


def to_order_event(document: dict[str, Any], raw: RawRecord, ref: ReferenceData) -> OrderEvent:
    """The canonical event for one web shop webhook."""
    topic = document.get("topic")
    if topic in ("orders/create", "orders/cancelled"):
        return _order(fields.validate_payload(WebOrder, document), raw, ref)
    if topic == "fulfillments/create":
        return _fulfillment(fields.validate_payload(WebFulfillment, document), raw, ref)
    if topic == "refunds/create":
        return _refund(fields.validate_payload(WebRefund, document), raw, ref)
    raise Refused(ExceptionReason.INVALID_PAYLOAD, f"topic: unknown webhook topic {topic!r}")


def _order(order: WebOrder, raw: RawRecord, ref: ReferenceData) -> OrderEvent:
    exponent = fields.channel_currency(order.currency, "currency", CHANNEL, ref)
    exact = exponent <= MONEY_SCALE
    lines = [_priced_line(n, item, exponent, exact, ref) for n, item in enumerate(order.line_items)]
    discounts = [
        fields.canonical(Discount, {
            "code": d.code,
            "amount": fields.money(d.amount, f"discount_codes.{n}.amount", exponent),
        }, exact)
        for n, d in enumerate(order.discount_codes)
    ]  # fmt: skip
    shipping = [
        fields.canonical(ShippingCharge, {
            "code": s.code,
            "amount": fields.money(s.price, f"shipping_lines.{n}.price", exponent),
        }, exact)
        for n, s in enumerate(order.shipping_lines)
    ]  # fmt: skip
    totals = fields.canonical(OrderTotals, {
        "subtotal": fields.money(order.subtotal_price, "subtotal_price", exponent),
        "discount_total": fields.money(order.total_discounts, "total_discounts", exponent),
        "shipping_total": sum((s.amount for s in shipping), ZERO),
        "tax_total": fields.money(order.total_tax, "total_tax", exponent),
        "grand_total": fields.money(order.total_price, "total_price", exponent),
    }, exact)  # fmt: skip
    fields.require_equal(
        totals.subtotal, sum((x.net_amount for x in lines), ZERO), "subtotal_price"
    )
    fields.require_equal(totals.tax_total, sum((x.tax_amount for x in lines), ZERO), "total_tax")
    fields.require_equal(
        totals.discount_total, sum((d.amount for d in discounts), ZERO), "total_discounts"
    )
    fields.require_equal(
        totals.grand_total,
        totals.subtotal - totals.discount_total + totals.shipping_total + totals.tax_total,
        "total_price",
    )
    cancelled = order.topic == "orders/cancelled"
    return fields.canonical(OrderEvent, {
        "event_id": f"web:{order.topic}:{order.id}:{order.updated_at}",
        "event_type": OrderEventType.CANCELLED if cancelled else OrderEventType.PLACED,
        "channel": CHANNEL,
        "order_id": str(order.id),
        "document_id": str(order.id),
        "channel_status": order.topic,
        "event_time": fields.timestamp(order.updated_at, "updated_at"),
        "order_placed_at": fields.timestamp(order.created_at, "created_at"),
        "location": fields.selling_location(
            order.fulfillment_location, "fulfillment_location", CHANNEL, ref
        ),
        "currency": order.currency,
        "lines": lines,
        "discounts": discounts,
        "shipping": shipping,
        "totals": totals,
        "restock": False,
        "tender": None,
        "related_document_id": None,
        "correlation_id": f"web:{order.id}",
        "source": raw.coordinates(),
    }, exact)  # fmt: skip


def _priced_line(
    n: int, item: WebLineItem, exponent: int, exact: bool, ref: ReferenceData
) -> OrderLine:
    where = f"line_items.{n}"
    units = fields.quantity(item.quantity, f"{where}.quantity", ref)
    unit_price = fields.money(item.price, f"{where}.price", exponent)
    taxes = [
        _tax(f"{where}.tax_lines.{t}", tax, exponent, exact, ref)
        for t, tax in enumerate(item.tax_lines)
    ]
    return fields.canonical(OrderLine, {
        "line_id": str(item.id),
        "sku": fields.known_sku(item.sku, f"{where}.sku", ref),
        "quantity": units,
        "unit_price": unit_price,
        "net_amount": unit_price * units,
        "discount_amount": ZERO,
        "tax_amount": sum((t.amount for t in taxes), ZERO),
        "taxes": taxes,
        "original_order_id": None,
    }, exact)  # fmt: skip


def _tax(where: str, tax: WebTaxLine, exponent: int, exact: bool, ref: ReferenceData) -> TaxAmount:
    mapped = ref.tax_codes.get(tax.title)
    if mapped is None:
        raise Refused(
            ExceptionReason.UNKNOWN_TAX_CODE, f"{where}.title: tax {tax.title!r} is not mapped"
        )
    return fields.canonical(TaxAmount, {
        "tax_code": mapped.erp_code,
        "channel_tax_code": tax.title,
        "rate": tax.rate,
        "amount": fields.money(tax.price, f"{where}.price", exponent),
    }, exact)  # fmt: skip


def _fulfillment(shipped: WebFulfillment, raw: RawRecord, ref: ReferenceData) -> OrderEvent:
    lines = [
        fields.canonical(OrderLine, {
            "line_id": str(n),
            "sku": fields.known_sku(item.sku, f"line_items.{n}.sku", ref),
            "quantity": fields.quantity(item.quantity, f"line_items.{n}.quantity", ref),
            "unit_price": ZERO,
            "net_amount": ZERO,
            "discount_amount": ZERO,
            "tax_amount": ZERO,
            "taxes": [],
            "original_order_id": None,
        })
        for n, item in enumerate(shipped.line_items)
    ]  # fmt: skip
    return fields.canonical(OrderEvent, {
        "event_id": f"web:fulfillments/create:{shipped.id}:{shipped.created_at}",
        "event_type": OrderEventType.SHIPPED,
        "channel": CHANNEL,
        "order_id": str(shipped.order_id),
        "document_id": str(shipped.id),
        "channel_status": shipped.topic,
        "event_time": fields.timestamp(shipped.created_at, "created_at"),
        "order_placed_at": None,
        "location": fields.selling_location(shipped.location, "location", CHANNEL, ref),
        # A fulfilment carries quantities only: the order's prices price it.
        "currency": None,
        "lines": lines,
        "discounts": [],
        "shipping": [],
        "totals": fields.canonical(OrderTotals, {
            "subtotal": ZERO,
            "discount_total": ZERO,
            "shipping_total": ZERO,
            "tax_total": ZERO,
            "grand_total": ZERO,
        }),
        "restock": False,
        "tender": None,
        "related_document_id": None,
        "correlation_id": f"web:{shipped.order_id}",
        "source": raw.coordinates(),
    })  # fmt: skip


def _refund(refund: WebRefund, raw: RawRecord, ref: ReferenceData) -> OrderEvent:
    # Amounts without a currency are read to four places: exact by construction.
    lines = []
    for n, item in enumerate(refund.refund_line_items):
        where = f"refund_line_items.{n}"
        units = fields.quantity(item.quantity, f"{where}.quantity", ref)
        subtotal = fields.money(item.subtotal, f"{where}.subtotal")
        lines.append(
            fields.canonical(OrderLine, {
                "line_id": str(n),
                "sku": fields.known_sku(item.sku, f"{where}.sku", ref),
                "quantity": units,
                "unit_price": fields.per_unit(subtotal, units),
                "net_amount": subtotal,
                "discount_amount": ZERO,
                "tax_amount": fields.money(item.total_tax, f"{where}.total_tax"),
                # The refund does not split its tax by code: the order's split applies.
                "taxes": [],
                "original_order_id": None,
            })
        )  # fmt: skip
    shipping_refund = fields.money(refund.shipping_refund, "shipping_refund")
    subtotal = sum((x.net_amount for x in lines), ZERO)
    tax_total = sum((x.tax_amount for x in lines), ZERO)
    shipping = (
        [fields.canonical(ShippingCharge, {"code": "refund", "amount": shipping_refund})]
        if shipping_refund
        else []
    )
    return fields.canonical(OrderEvent, {
        "event_id": f"web:refunds/create:{refund.id}:{refund.created_at}",
        "event_type": OrderEventType.REFUNDED,
        "channel": CHANNEL,
        "order_id": str(refund.order_id),
        "document_id": str(refund.id),
        "channel_status": refund.topic,
        "event_time": fields.timestamp(refund.created_at, "created_at"),
        "order_placed_at": None,
        "location": fields.selling_location(refund.location, "location", CHANNEL, ref),
        # A refund is in the order's currency, which the webhook does not repeat.
        "currency": None,
        "lines": lines,
        "discounts": [],
        "shipping": shipping,
        "totals": fields.canonical(OrderTotals, {
            "subtotal": subtotal,
            "discount_total": ZERO,
            "shipping_total": shipping_refund,
            "tax_total": tax_total,
            "grand_total": subtotal + shipping_refund + tax_total,
        }),
        "restock": refund.restock,
        "tender": None,
        "related_document_id": None,
        "correlation_id": f"web:{refund.order_id}",
        "source": raw.coordinates(),
    })  # fmt: skip
