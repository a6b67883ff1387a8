"""Finance's hourly reconciliation: what was ordered, shipped, invoiced, refunded and credited."""

from __future__ import annotations

from pydantic import Field

from omnichannel.contracts.common import Channel, Contract, Money, UtcDatetime


class ReconciliationSummary(Contract):
    """One channel's values in one currency over one hour of event time.

    Published when the hour closes (its end plus the grace has passed in event time) and again,
    with a higher `revision`, if late events change it. Healthy hours have shipped equal to
    invoiced and refunded equal to credited; `gaps` counts what could not be posted.
    """

    channel: Channel = Field(description="The sales channel.")
    currency: str = Field(description="ISO 4217 currency of every amount.")
    window_start: UtcDatetime = Field(description="Start of the hour, in UTC.")
    window_end: UtcDatetime = Field(description="End of the hour (exclusive), in UTC.")
    ordered: Money = Field(description="Gross value of orders placed in the hour.")
    shipped: Money = Field(description="Gross value of goods shipped (or sold) in the hour.")
    invoiced: Money = Field(description="Gross value of invoices posted for the hour.")
    refunded: Money = Field(description="Gross value of refunds and returns in the hour.")
    credited: Money = Field(description="Gross value of credit memos posted for the hour.")
    orders: int = Field(description="Orders placed in the hour.")
    invoices: int = Field(description="Invoices posted for the hour.")
    credit_memos: int = Field(description="Credit memos posted for the hour.")
    gaps: int = Field(description="Shipments or refunds of the hour that could not be posted.")
    revision: int = Field(description="1 when first published; higher when late events change it.")
    published_at: UtcDatetime = Field(description="When this revision was computed, in UTC.")
