"""The canonical marketplace settlement: what the marketplace paid out, and why."""

from __future__ import annotations

from pydantic import Field

from omnichannel.contracts.common import Contract, Money, SourceCoordinates, UtcDatetime


class SettlementAmount(Contract):
    """One amount on a settlement row, by what it is for."""

    component: str = Field(
        description="principal, tax, commission, fba_fee, or amount (fees with no breakdown)."
    )
    amount: Money = Field(description="Signed amount: credits to the seller positive.")


class SettlementRow(Contract):
    """One row of a settlement report: an order's proceeds and fees, or a service fee."""

    row_type: str = Field(description="The marketplace's row type (Order, Refund, ServiceFee).")
    order_id: str | None = Field(default=None, description="The marketplace order, if any.")
    sku: str | None = Field(default=None, description="The SKU, for order rows.")
    description: str | None = Field(default=None, description="Free text, for fee rows.")
    amounts: list[SettlementAmount] = Field(description="The row's amounts.")


class Settlement(Contract):
    """A marketplace settlement report whose rows sum exactly to its deposit."""

    settlement_id: str = Field(description="The marketplace's settlement id.")
    marketplace: str = Field(description="The marketplace id.")
    period_start: UtcDatetime = Field(description="Start of the settled period, in UTC.")
    period_end: UtcDatetime = Field(description="End of the settled period, in UTC.")
    currency: str = Field(description="ISO 4217 currency of every amount.")
    deposit: Money = Field(description="What the marketplace paid to the bank.")
    rows: list[SettlementRow] = Field(description="The report's rows.")
    correlation_id: str = Field(description="Ties postings to this settlement.")
    source: SourceCoordinates = Field(description="Where the raw record was read.")
