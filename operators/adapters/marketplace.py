"""Marketplace orders (SP-API style) to canonical order events.

Each status change re-sends the whole order with a newer `LastUpdateDate`: Pending reserves
nothing yet, Unshipped reserves, Shipped consumes and is invoiced, Canceled releases. The
event identity is (order, status, LastUpdateDate), so a re-sent status is an exact duplicate.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from omnichannel.contracts.common import MONEY_SCALE, Channel
from omnichannel.contracts.exception_record import ExceptionReason
from omnichannel.contracts.order_event import (
    OrderEvent,
    OrderEventType,
    OrderLine,
    OrderTotals,
    TaxAmount,
)
from omnichannel.reference import ReferenceData
from operators.adapters import fields
from operators.adapters.fields import Payload
from operators.adapters.raw import RawRecord, Refused

CHANNEL = Channel.MARKETPLACE
ZERO = Decimal(0)
EVENT_TYPES = {
    "Pending": OrderEventType.PENDING,
    "Unshipped": OrderEventType.PLACED,
    "Shipped": OrderEventType.SHIPPED,
    "Canceled": OrderEventType.CANCELLED,
}


class MarketplaceMoney(Payload):
    CurrencyCode: str
    Amount: str


class MarketplaceItem(Payload):
    OrderItemId: str
    SellerSKU: str
    QuantityOrdered: int
    QuantityShipped: int = 0
    ItemPrice: MarketplaceMoney
    ItemTax: MarketplaceMoney
    TaxCode: str


class MarketplaceOrder(Payload):
    AmazonOrderId: str
    MarketplaceId: str
    PurchaseDate: str
    LastUpdateDate: str
    OrderStatus: Literal["Pending", "Unshipped", "Shipped", "Canceled"]
    OrderTotal: MarketplaceMoney
    OrderItems: list[MarketplaceItem] = Field(min_length=1)
    ShipFromLocation: str


def to_order_event(document: dict[str, Any], raw: RawRecord, ref: ReferenceData) -> OrderEvent:
    """The canonical event for one marketplace order status."""
    order = fields.validate_payload(MarketplaceOrder, document)
    currency = order.OrderTotal.CurrencyCode
    exponent = fields.channel_currency(currency, "OrderTotal.CurrencyCode", CHANNEL, ref)
    exact = exponent <= MONEY_SCALE
    lines = [
        _line(n, item, currency, exponent, exact, ref) for n, item in enumerate(order.OrderItems)
    ]
    subtotal = sum((x.net_amount for x in lines), ZERO)
    tax_total = sum((x.tax_amount for x in lines), ZERO)
    grand_total = fields.money(order.OrderTotal.Amount, "OrderTotal.Amount", exponent)
    fields.require_equal(grand_total, subtotal + tax_total, "OrderTotal.Amount")
    return fields.canonical(OrderEvent, {
        "event_id": (
            f"marketplace:{order.AmazonOrderId}:{order.OrderStatus}:{order.LastUpdateDate}"
        ),
        "event_type": EVENT_TYPES[order.OrderStatus],
        "channel": CHANNEL,
        "order_id": order.AmazonOrderId,
        "document_id": order.AmazonOrderId,
        "channel_status": order.OrderStatus,
        "event_time": fields.timestamp(order.LastUpdateDate, "LastUpdateDate"),
        "order_placed_at": fields.timestamp(order.PurchaseDate, "PurchaseDate"),
        "location": fields.selling_location(
            order.ShipFromLocation, "ShipFromLocation", CHANNEL, ref
        ),
        "currency": currency,
        "lines": lines,
        "discounts": [],
        "shipping": [],
        "totals": fields.canonical(OrderTotals, {
            "subtotal": subtotal,
            "discount_total": ZERO,
            "shipping_total": ZERO,
            "tax_total": tax_total,
            "grand_total": grand_total,
        }, exact),
        "restock": False,
        "tender": None,
        "related_document_id": None,
        "correlation_id": f"marketplace:{order.AmazonOrderId}",
        "source": raw.coordinates(),
    }, exact)  # fmt: skip


def _line(
    n: int, item: MarketplaceItem, currency: str, exponent: int, exact: bool, ref: ReferenceData
) -> OrderLine:
    where = f"OrderItems.{n}"
    for part, money in (("ItemPrice", item.ItemPrice), ("ItemTax", item.ItemTax)):
        if money.CurrencyCode != currency:
            raise Refused(
                ExceptionReason.INVALID_PAYLOAD,
                f"{where}.{part}.CurrencyCode: {money.CurrencyCode} differs from the order's "
                f"{currency}",
            )
    tax = ref.tax_codes.get(item.TaxCode)
    if tax is None:
        raise Refused(
            ExceptionReason.UNKNOWN_TAX_CODE, f"{where}.TaxCode: {item.TaxCode!r} is not mapped"
        )
    units = fields.quantity(item.QuantityOrdered, f"{where}.QuantityOrdered", ref)
    price = fields.money(item.ItemPrice.Amount, f"{where}.ItemPrice.Amount", exponent)
    tax_amount = fields.money(item.ItemTax.Amount, f"{where}.ItemTax.Amount", exponent)
    return fields.canonical(OrderLine, {
        "line_id": item.OrderItemId,
        "sku": fields.known_sku(item.SellerSKU, f"{where}.SellerSKU", ref),
        "quantity": units,
        "unit_price": fields.per_unit(price, units),
        "net_amount": price,
        "discount_amount": ZERO,
        "tax_amount": tax_amount,
        "taxes": [
            fields.canonical(TaxAmount, {
                "tax_code": tax.erp_code,
                "channel_tax_code": item.TaxCode,
                "rate": None if tax.rate is None else str(tax.rate),
                "amount": tax_amount,
            }, exact)
        ],
        "original_order_id": None,
    }, exact)  # fmt: skip
