"""Properties of every adapter over 10,000 generated payloads each, valid and corrupted.

Valid payloads (consistent totals, known SKUs, locations, tax codes) always become a canonical
event. Corrupted ones (a field dropped or replaced by arbitrary JSON, bytes truncated or
flipped) become a canonical event or exactly one exception record, never a crash and never the
adapter-failure safety net.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.reference import load_reference
from omnichannel.topics import Topics
from operators.adapters.raw import RawRecord
from operators.normalize import Normalizer

REFERENCE = load_reference()
NORMALIZER = Normalizer.for_topics(REFERENCE, Topics())
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
EXAMPLES = settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CENT = Decimal("0.01")
DCS = REFERENCE.locations_for("marketplace")
TENDERS = ["CARD", "CASH"]

skus = st.integers(1000, 100_999).map(lambda n: f"SKU-{n}")
prices = st.integers(1, 500_000).map(lambda cents: Decimal(cents) / 100)
quantities = st.integers(1, 20)
moments = st.integers(0, 86_400 * 3).map(
    lambda s: (datetime(2026, 11, 26, tzinfo=UTC) + timedelta(seconds=s)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def cents(amount: Decimal) -> str:
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


@st.composite
def web_orders(draw: st.DrawFn) -> dict[str, Any]:
    lines = []
    for n in range(draw(st.integers(1, 4))):
        price, units = draw(prices), draw(quantities)
        title = draw(st.sampled_from(["US-NY", "US-CA"]))
        rate = REFERENCE.tax_codes[title].rate or Decimal(0)
        tax = (price * units * rate).quantize(CENT, rounding=ROUND_HALF_UP)
        lines.append(
            {"id": n + 1, "sku": draw(skus), "quantity": units, "price": cents(price),
             "tax_lines": [{"title": title, "rate": str(rate), "price": cents(tax)}]}
        )  # fmt: skip
    subtotal = sum(Decimal(x["price"]) * x["quantity"] for x in lines)
    tax_total = sum(Decimal(x["tax_lines"][0]["price"]) for x in lines)
    discount = draw(st.integers(0, int(subtotal * 100))).__truediv__(100)
    discount = Decimal(discount).quantize(CENT)
    shipping = draw(st.sampled_from([Decimal("0.00"), Decimal("5.00"), Decimal("12.50")]))
    created = draw(moments)
    return {
        "topic": draw(st.sampled_from(["orders/create", "orders/cancelled"])),
        "id": draw(st.integers(1, 2**62)), "name": "#1", "created_at": created,
        "updated_at": created, "currency": "USD", "subtotal_price": cents(subtotal),
        "total_tax": cents(tax_total), "total_discounts": cents(discount),
        "total_price": cents(subtotal - discount + shipping + tax_total),
        "shipping_lines": [{"code": "STD", "price": cents(shipping)}],
        "discount_codes": [{"code": "BF", "amount": cents(discount)}] if discount else [],
        "fulfillment_location": draw(st.sampled_from(REFERENCE.locations_for("web"))),
        "line_items": lines,
    }  # fmt: skip


@st.composite
def web_followups(draw: st.DrawFn) -> dict[str, Any]:
    location = draw(st.sampled_from(REFERENCE.locations_for("web")))
    common = {"id": draw(st.integers(1, 2**62)), "order_id": draw(st.integers(1, 2**62)),
              "created_at": draw(moments), "location": location}  # fmt: skip
    if draw(st.booleans()):
        items = draw(st.lists(st.fixed_dictionaries({"sku": skus, "quantity": quantities}),
                              min_size=1, max_size=3))  # fmt: skip
        return {"topic": "fulfillments/create", **common, "line_items": items}
    items = [
        {"sku": draw(skus), "quantity": draw(quantities), "subtotal": cents(draw(prices)),
         "total_tax": cents(draw(prices) / 10)}
        for _ in range(draw(st.integers(1, 3)))
    ]  # fmt: skip
    return {"topic": "refunds/create", **common, "restock": draw(st.booleans()),
            "refund_line_items": items, "shipping_refund": "0.00"}  # fmt: skip


@st.composite
def pos_receipts(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["SALE", "RETURN", "VOID"]))
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        tax_code = draw(st.sampled_from(["DE-19", "DE-7"]))
        line = {"ean": REFERENCE.in_store_ean(draw(skus)), "qty": draw(quantities),
                "unit_price": cents(draw(prices)), "tax_code": tax_code,
                "discount": "0.00"}  # fmt: skip
        if kind == "RETURN":
            line["original_receipt_no"] = draw(st.integers(1, 10**6))
        lines.append(line)
    total = sum(Decimal(x["unit_price"]) * x["qty"] for x in lines)
    store = draw(st.sampled_from(REFERENCE.locations_for("pos")))
    receipt = {"type": kind, "store_id": store,
               "register": draw(st.integers(1, 9)), "receipt_no": draw(st.integers(1, 10**6)),
               "ts": draw(moments).replace("Z", "+01:00"), "currency": "EUR", "lines": lines,
               "total": cents(total), "tender": draw(st.sampled_from(TENDERS))}  # fmt: skip
    if kind == "VOID":
        receipt["voids_receipt_no"] = draw(st.integers(1, 10**6))
    return receipt


@st.composite
def marketplace_orders(draw: st.DrawFn) -> dict[str, Any]:
    items = []
    for n in range(draw(st.integers(1, 3))):
        price, tax = draw(prices), draw(prices) / 10
        items.append(
            {"OrderItemId": str(n), "SellerSKU": draw(skus), "QuantityOrdered": draw(quantities),
             "ItemPrice": {"CurrencyCode": "USD", "Amount": cents(price)},
             "ItemTax": {"CurrencyCode": "USD", "Amount": cents(tax)}, "TaxCode": "A_GEN_TAX"}
        )  # fmt: skip
    total = sum(Decimal(i["ItemPrice"]["Amount"]) + Decimal(i["ItemTax"]["Amount"]) for i in items)
    placed = draw(moments)
    return {"AmazonOrderId": f"113-{draw(st.integers(0, 10**7)):07d}-1", "MarketplaceId": "ATV",
            "PurchaseDate": placed, "LastUpdateDate": placed,
            "OrderStatus": draw(st.sampled_from(["Pending", "Unshipped", "Shipped", "Canceled"])),
            "OrderTotal": {"CurrencyCode": "USD", "Amount": cents(total)}, "OrderItems": items,
            "ShipFromLocation": draw(st.sampled_from(DCS))}  # fmt: skip


@st.composite
def settlement_reports(draw: st.DrawFn) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for n in range(draw(st.integers(1, 5))):
        principal = draw(prices)
        rows.append(
            {"order_id": f"113-{n}", "type": "Order", "sku": draw(skus),
             "principal": cents(principal), "tax": cents(principal / 10),
             "commission": cents(-principal * Decimal("0.15")), "fba_fee": "0.00"}
        )  # fmt: skip
    rows.append({"order_id": None, "type": "ServiceFee", "description": "Subscription",
                 "amount": "-39.99"})  # fmt: skip
    deposit = sum(
        Decimal(v) for row in rows for k, v in row.items()
        if k in ("principal", "tax", "commission", "fba_fee", "amount")
    )  # fmt: skip
    return {"settlement_id": str(draw(st.integers(1, 10**11))), "marketplace": "ATV",
            "start": "2026-11-20T00:00:00Z", "end": "2026-11-27T00:00:00Z", "currency": "USD",
            "deposit": str(deposit), "rows": rows}  # fmt: skip


@st.composite
def movements(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(["RECEIPT", "ADJUSTMENT", "TRANSFER_OUT", "TRANSFER_IN", "DAMAGE", "COUNT"])
    )
    units = draw(quantities)
    if kind == "ADJUSTMENT" and draw(st.booleans()):
        units = -units
    return {"movement_id": f"WMS-{draw(st.integers(0, 10**6))}", "type": kind, "sku": draw(skus),
            "location": draw(st.sampled_from(sorted(REFERENCE.locations))), "quantity": units,
            "ts": draw(moments), "reference": "PO-1"}  # fmt: skip


@st.composite
def corrupted(draw: st.DrawFn, valid: st.SearchStrategy[dict[str, Any]]) -> bytes:
    """A valid payload with one corruption: a field dropped or replaced, or its bytes damaged."""
    document = draw(valid)
    how = draw(st.sampled_from(["drop", "replace", "truncate", "flip", "none"]))
    if how in ("drop", "replace"):
        parent, key = _pick_field(draw, document)
        if how == "drop":
            del parent[key]
        else:
            parent[key] = draw(json_values)
    encoded = json.dumps(document).encode()
    if how == "truncate":
        return encoded[: draw(st.integers(0, len(encoded) - 1))]
    if how == "flip":
        at = draw(st.integers(0, len(encoded) - 1))
        return encoded[:at] + bytes([encoded[at] ^ draw(st.integers(1, 255))]) + encoded[at + 1 :]
    return encoded


def _pick_field(draw: st.DrawFn, document: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Some field of the document, at any depth (inside lists too)."""
    node: dict[str, Any] = document
    while True:
        key = draw(st.sampled_from(sorted(node)))
        child = node[key]
        if isinstance(child, list) and child and isinstance(child[0], dict):
            child = draw(st.sampled_from(child))
        if isinstance(child, dict) and child and draw(st.booleans()):
            node = child
            continue
        return node, key


def valid_or_corrupted(
    valid: st.SearchStrategy[dict[str, Any]],
) -> st.SearchStrategy[tuple[bool, bytes]]:
    """Half valid payloads, half corrupted ones, each tagged with which it is."""
    return st.one_of(
        valid.map(lambda document: (True, json.dumps(document).encode())),
        corrupted(valid).map(lambda value: (False, value)),
    )


def check(topic: str, payload: tuple[bool, bytes]) -> None:
    """A valid payload becomes an event; any payload becomes an event or one exception."""
    is_valid, value = payload
    result = NORMALIZER.normalize(RawRecord(topic, 0, 0, None, value), NOW)
    if isinstance(result, ExceptionRecord):
        assert not is_valid, f"a valid payload was refused: {result.message}"
        assert result.reason is not ExceptionReason.ADAPTER_FAILURE, result.message
        assert result.raw_value == value
        assert result.message


@EXAMPLES
@given(valid_or_corrupted(st.one_of(web_orders(), web_followups())))
def test_web_payloads(payload: tuple[bool, bytes]) -> None:
    check("orders.web", payload)


@EXAMPLES
@given(valid_or_corrupted(pos_receipts()))
def test_pos_receipts(payload: tuple[bool, bytes]) -> None:
    check("orders.pos", payload)


@EXAMPLES
@given(valid_or_corrupted(marketplace_orders()))
def test_marketplace_orders(payload: tuple[bool, bytes]) -> None:
    check("orders.marketplace", payload)


@EXAMPLES
@given(valid_or_corrupted(settlement_reports()))
def test_settlement_reports(payload: tuple[bool, bytes]) -> None:
    check("settlements.marketplace", payload)


@EXAMPLES
@given(valid_or_corrupted(movements()))
def test_inventory_movements(payload: tuple[bool, bytes]) -> None:
    check("inventory.movements", payload)
