"""Store point-of-sale receipts to canonical order events.

A SALE takes goods off the store's shelf and is invoiced at once; a RETURN puts goods back
(its lines name the receipt they were sold on); a VOID cancels an earlier receipt of the same
store. Prices include tax (European style): net and tax are split with the tax code's rate. A
receipt re-sent from a register's backlog has the same store and number, hence the same
`event_id`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
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

CHANNEL = Channel.POS
ZERO = Decimal(0)
EVENT_TYPES = {
    "SALE": OrderEventType.STORE_SALE,
    "RETURN": OrderEventType.STORE_RETURN,
    "VOID": OrderEventType.STORE_VOID,
}


class PosLine(Payload):
    ean: str
    qty: int
    unit_price: str
    tax_code: str
    discount: str = "0.00"
    original_receipt_no: int | None = None


class PosReceipt(Payload):
    type: Literal["SALE", "RETURN", "VOID"]
    store_id: str
    # `register` would shadow a pydantic attribute; the payload's name is kept as the alias.
    register_no: int = Field(alias="register")
    receipt_no: int
    ts: str
    currency: str
    lines: list[PosLine] = []
    total: str
    tender: str | None = None
    voids_receipt_no: int | None = None


def to_order_event(document: dict[str, Any], raw: RawRecord, ref: ReferenceData) -> OrderEvent:
    """The canonical event for one store receipt."""
    receipt = fields.validate_payload(PosReceipt, document)
    store = fields.selling_location(receipt.store_id, "store_id", CHANNEL, ref)
    exponent = fields.channel_currency(receipt.currency, "currency", CHANNEL, ref)
    own_id = f"{store}:{receipt.receipt_no}"
    if receipt.type != "VOID" and not receipt.lines:
        raise Refused(ExceptionReason.INVALID_PAYLOAD, f"lines: a {receipt.type} needs lines")
    if receipt.type == "VOID" and receipt.voids_receipt_no is None:
        raise Refused(ExceptionReason.INVALID_PAYLOAD, "voids_receipt_no: a VOID must name one")
    exact = exponent <= MONEY_SCALE
    lines = [
        _line(n, line, store, receipt.type, exponent, exact, ref)
        for n, line in enumerate(receipt.lines)
    ]
    gross = sum((x.net_amount + x.tax_amount for x in lines), ZERO)
    fields.require_equal(fields.money(receipt.total, "total", exponent), gross, "total")
    voided = None if receipt.voids_receipt_no is None else f"{store}:{receipt.voids_receipt_no}"
    return fields.canonical(OrderEvent, {
        "event_id": f"pos:{own_id}",
        "event_type": EVENT_TYPES[receipt.type],
        "channel": CHANNEL,
        # A void moves the lifecycle of the receipt it cancels.
        "order_id": voided if receipt.type == "VOID" and voided else own_id,
        "document_id": own_id,
        "channel_status": receipt.type,
        "event_time": fields.timestamp(receipt.ts, "ts"),
        "order_placed_at": fields.timestamp(receipt.ts, "ts"),
        "location": store,
        "currency": receipt.currency,
        "lines": lines,
        "discounts": [],
        "shipping": [],
        "totals": fields.canonical(OrderTotals, {
            "subtotal": sum((x.net_amount for x in lines), ZERO),
            "discount_total": ZERO,
            "shipping_total": ZERO,
            "tax_total": sum((x.tax_amount for x in lines), ZERO),
            "grand_total": gross,
        }, exact),
        "restock": receipt.type == "RETURN",
        "tender": receipt.tender,
        "related_document_id": voided,
        "correlation_id": f"pos:{voided if receipt.type == 'VOID' and voided else own_id}",
        "source": raw.coordinates(),
    }, exact)  # fmt: skip


def _line(
    n: int, line: PosLine, store: str, kind: str, exponent: int, exact: bool, ref: ReferenceData
) -> OrderLine:
    where = f"lines.{n}"
    sku = _sku_for_ean(ref, line.ean)
    if sku is None:
        raise Refused(ExceptionReason.UNKNOWN_EAN, f"{where}.ean: EAN {line.ean!r} maps to no SKU")
    tax = ref.tax_codes.get(line.tax_code)
    if tax is None:
        raise Refused(
            ExceptionReason.UNKNOWN_TAX_CODE, f"{where}.tax_code: {line.tax_code!r} is not mapped"
        )
    if tax.rate is None:
        raise Refused(
            ExceptionReason.UNKNOWN_TAX_CODE,
            f"{where}.tax_code: {line.tax_code!r} has no rate to split a tax-inclusive price",
        )
    units = fields.quantity(line.qty, f"{where}.qty", ref)
    unit_gross = fields.money(line.unit_price, f"{where}.unit_price", exponent)
    discount = fields.money(line.discount, f"{where}.discount", exponent)
    gross = unit_gross * units - discount
    if gross < 0:
        raise Refused(
            ExceptionReason.INVALID_AMOUNT, f"{where}.discount: {discount} exceeds the line's price"
        )
    cent = Decimal(1).scaleb(-exponent)
    net = (gross / (1 + tax.rate)).quantize(cent, rounding=ROUND_HALF_UP)
    if kind == "RETURN" and line.original_receipt_no is None:
        raise Refused(
            ExceptionReason.INVALID_PAYLOAD, f"{where}.original_receipt_no: a RETURN line needs it"
        )
    return fields.canonical(OrderLine, {
        "line_id": str(n),
        "sku": sku,
        "quantity": units,
        "unit_price": fields.per_unit(net + discount, units),
        "net_amount": net,
        "discount_amount": discount,
        "tax_amount": gross - net,
        "taxes": [
            fields.canonical(TaxAmount, {
                "tax_code": tax.erp_code,
                "channel_tax_code": line.tax_code,
                "rate": str(tax.rate),
                "amount": gross - net,
            }, exact)
        ],
        "original_order_id": (
            None if line.original_receipt_no is None else f"{store}:{line.original_receipt_no}"
        ),
    }, exact)  # fmt: skip


# EAN to SKU per reference data: a pure function of the two, worked out once per EAN (the
# check digit costs more than the rest of a line). Bounded, as EANs come from the outside.
_EAN_CACHE_SIZE = 1 << 18
_skus_by_ean: dict[int, tuple[ReferenceData, dict[str, str | None]]] = {}


def _sku_for_ean(ref: ReferenceData, ean: str) -> str | None:
    known = _skus_by_ean.get(id(ref))
    if known is None or known[0] is not ref:
        # The reference data is kept with its cache, so that its id is never reused.
        known = _skus_by_ean[id(ref)] = (ref, {})
    cache = known[1]
    if ean in cache:
        return cache[ean]
    if len(cache) >= _EAN_CACHE_SIZE:
        cache.clear()
    sku = cache[ean] = ref.sku_for_ean(ean)
    return sku
