"""The canonical order event: one step in the lifecycle of one channel order."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from omnichannel.contracts.common import (
    Channel,
    Contract,
    Money,
    SourceCoordinates,
    UtcDatetime,
)


class OrderEventType(StrEnum):
    """What happened to the order, in the retailer's words, whatever channel it came from."""

    PENDING = "pending"
    PLACED = "placed"
    CANCELLED = "cancelled"
    SHIPPED = "shipped"
    REFUNDED = "refunded"
    STORE_SALE = "store_sale"
    STORE_RETURN = "store_return"
    STORE_VOID = "store_void"


class TaxAmount(Contract):
    """Tax charged on a line under one ERP tax code."""

    tax_code: str = Field(description="The ERP tax code, mapped from the channel's tax code.")
    channel_tax_code: str = Field(description="The tax code or title as the channel sent it.")
    rate: str | None = Field(default=None, description="The rate as a decimal string, if known.")
    amount: Money = Field(description="Tax amount in the event's currency.")


class OrderLine(Contract):
    """One SKU on the order, with its quantity and what it costs."""

    line_id: str = Field(description="The channel's line id, or the line's position.")
    sku: str = Field(description="The retailer's SKU (POS EANs are mapped to it).")
    quantity: int = Field(description="Units on this line for this event; always positive.")
    unit_price: Money = Field(description="Price of one unit, net of tax.")
    net_amount: Money = Field(description="Line amount net of tax and after line discounts.")
    discount_amount: Money = Field(
        description="Discount taken on this line, as the channel states it."
    )
    tax_amount: Money = Field(description="Tax on this line in total.")
    taxes: list[TaxAmount] = Field(
        description="Tax on this line per ERP tax code; empty where the channel gives no split."
    )
    original_order_id: str | None = Field(
        default=None, description="For a return: the order the goods were sold on."
    )


class Discount(Contract):
    """An order-level discount (a code redeemed at checkout)."""

    code: str = Field(description="The discount code.")
    amount: Money = Field(description="Amount taken off the order, net of tax.")


class ShippingCharge(Contract):
    """Shipping charged to (or, on a refund, refunded to) the customer."""

    code: str = Field(description="The shipping method code.")
    amount: Money = Field(description="Shipping amount, net of tax.")


class OrderTotals(Contract):
    """The event's totals, checked by the adapter to add up from its lines."""

    subtotal: Money = Field(description="Sum of the lines' net amounts.")
    discount_total: Money = Field(description="Sum of the order-level discounts.")
    shipping_total: Money = Field(description="Sum of the shipping charges.")
    tax_total: Money = Field(description="Sum of the lines' taxes.")
    grand_total: Money = Field(
        description="subtotal - discount_total + shipping_total + tax_total."
    )


class OrderEvent(Contract):
    """One lifecycle event of one channel order, in the retailer's canonical form.

    Every channel's payload (web shop webhook, POS receipt, marketplace order) is mapped to
    this shape by its adapter, after the SKU, location, tax codes and currency are checked
    against reference data.
    """

    event_id: str = Field(
        description="Identity of the source event: equal for an exact re-delivery, else unique."
    )
    event_type: OrderEventType = Field(description="What happened to the order.")
    channel: Channel = Field(description="The sales channel the event came from.")
    order_id: str = Field(description="The channel's order id whose lifecycle this event moves.")
    document_id: str = Field(
        description="The channel's id of this event's own document (fulfilment, refund, receipt)."
    )
    channel_status: str = Field(description="The channel's own name for the event or status.")
    event_time: UtcDatetime = Field(description="When it happened at the channel, in UTC.")
    order_placed_at: UtcDatetime | None = Field(
        default=None, description="When the order was placed, where the channel says so."
    )
    location: str = Field(description="The location whose stock the event concerns.")
    currency: str | None = Field(
        description="ISO 4217 currency of every amount; null where the channel sends none."
    )
    lines: list[OrderLine] = Field(description="The lines the event concerns.")
    discounts: list[Discount] = Field(description="Order-level discounts.")
    shipping: list[ShippingCharge] = Field(description="Shipping charges.")
    totals: OrderTotals = Field(description="The event's totals.")
    restock: bool = Field(description="Whether returned or refunded goods go back into stock.")
    tender: str | None = Field(default=None, description="How a store sale was paid (POS).")
    related_document_id: str | None = Field(
        default=None, description="The document this one acts on (the receipt a void cancels)."
    )
    correlation_id: str = Field(description="Ties every record of one channel order together.")
    source: SourceCoordinates = Field(description="Where the raw record was read.")
