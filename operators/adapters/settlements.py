"""Marketplace settlement reports to canonical settlements; the rows must sum to the deposit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from omnichannel.contracts.common import MONEY_SCALE, Channel
from omnichannel.contracts.exception_record import ExceptionReason
from omnichannel.contracts.settlement import Settlement, SettlementAmount, SettlementRow
from omnichannel.reference import ReferenceData
from operators.adapters import fields
from operators.adapters.fields import Payload
from operators.adapters.raw import RawRecord, Refused

CHANNEL = Channel.MARKETPLACE
# The row fields that carry money; anything else on a row is description.
AMOUNT_COMPONENTS = ("principal", "tax", "shipping", "promotion", "commission", "fba_fee", "amount")


class SettlementRowPayload(Payload):
    type: str
    order_id: str | None = None
    sku: str | None = None
    description: str | None = None
    principal: str | None = None
    tax: str | None = None
    shipping: str | None = None
    promotion: str | None = None
    commission: str | None = None
    fba_fee: str | None = None
    amount: str | None = None


class SettlementReport(Payload):
    settlement_id: str
    marketplace: str
    start: str
    end: str
    currency: str
    deposit: str
    rows: list[SettlementRowPayload] = Field(min_length=1)


def to_settlement(document: dict[str, Any], raw: RawRecord, ref: ReferenceData) -> Settlement:
    """The canonical settlement for one report, refused unless its rows sum to its deposit."""
    report = fields.validate_payload(SettlementReport, document)
    exponent = fields.channel_currency(report.currency, "currency", CHANNEL, ref)
    exact = exponent <= MONEY_SCALE
    rows = [_row(n, row, exponent, exact, ref) for n, row in enumerate(report.rows)]
    deposit = fields.money(report.deposit, "deposit", exponent, signed=True)
    rows_sum = sum((a.amount for row in rows for a in row.amounts), Decimal(0))
    if rows_sum != deposit:
        raise Refused(
            ExceptionReason.SETTLEMENT_UNBALANCED,
            f"deposit is {deposit} but the rows sum to {rows_sum} "
            f"(difference {deposit - rows_sum})",
        )
    start = fields.timestamp(report.start, "start")
    end = fields.timestamp(report.end, "end")
    if end < start:
        raise Refused(ExceptionReason.INVALID_PAYLOAD, f"end: {report.end} is before start")
    return fields.canonical(Settlement, {
        "settlement_id": report.settlement_id,
        "marketplace": report.marketplace,
        "period_start": start,
        "period_end": end,
        "currency": report.currency,
        "deposit": deposit,
        "rows": rows,
        "correlation_id": f"settlement:{report.settlement_id}",
        "source": raw.coordinates(),
    }, exact)  # fmt: skip


def _row(
    n: int, row: SettlementRowPayload, exponent: int, exact: bool, ref: ReferenceData
) -> SettlementRow:
    where = f"rows.{n}"
    amounts = [
        fields.canonical(SettlementAmount, {
            "component": name,
            "amount": fields.money(text, f"{where}.{name}", exponent, signed=True),
        }, exact)
        for name in AMOUNT_COMPONENTS
        if (text := getattr(row, name)) is not None
    ]  # fmt: skip
    if not amounts:
        raise Refused(ExceptionReason.INVALID_PAYLOAD, f"{where}: a row needs at least one amount")
    return fields.canonical(SettlementRow, {
        "row_type": row.type,
        "order_id": row.order_id,
        "sku": None if row.sku is None else fields.known_sku(row.sku, f"{where}.sku", ref),
        "description": row.description,
        "amounts": amounts,
    }, exact)  # fmt: skip
