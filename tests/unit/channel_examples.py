"""The example payloads of CHANNELS.md, verbatim, for the adapters' tests."""

from __future__ import annotations

import json
from typing import Any

WEB_ORDER: dict[str, Any] = {
    "topic": "orders/create", "id": 820982911946154508, "name": "#1001",
    "created_at": "2026-11-27T08:15:02Z", "updated_at": "2026-11-27T08:15:02Z",
    "currency": "USD", "subtotal_price": "59.98", "total_tax": "4.88",
    "total_discounts": "5.00", "total_price": "64.86",
    "shipping_lines": [{"code": "STD", "price": "5.00"}],
    "discount_codes": [{"code": "BF25", "amount": "5.00"}],
    "fulfillment_location": "DC-EAST",
    "line_items": [{"id": 1, "sku": "SKU-1001", "quantity": 2, "price": "29.99",
                    "tax_lines": [{"title": "US-NY", "rate": "0.08875", "price": "4.88"}]}],
}  # fmt: skip

WEB_FULFILLMENT: dict[str, Any] = {
    "topic": "fulfillments/create", "id": 4400001, "order_id": 820982911946154508,
    "created_at": "2026-11-27T11:40:00Z", "location": "DC-EAST",
    "line_items": [{"sku": "SKU-1001", "quantity": 2}],
}  # fmt: skip

WEB_REFUND: dict[str, Any] = {
    "topic": "refunds/create", "id": 5500001, "order_id": 820982911946154508,
    "created_at": "2026-11-28T09:00:00Z", "restock": True, "location": "DC-EAST",
    "refund_line_items": [{"sku": "SKU-1001", "quantity": 1, "subtotal": "29.99",
                           "total_tax": "2.44"}],
    "shipping_refund": "0.00",
}  # fmt: skip

POS_SALE: dict[str, Any] = {
    "type": "SALE", "store_id": "S-014", "register": 3, "receipt_no": 88121,
    "ts": "2026-11-27T10:02:44+01:00", "currency": "EUR",
    "lines": [{"ean": "4006381333931", "qty": 1, "unit_price": "19.99", "tax_code": "DE-19",
               "discount": "0.00"}],
    "total": "19.99", "tender": "CARD",
}  # fmt: skip

MARKETPLACE_ORDER: dict[str, Any] = {
    "AmazonOrderId": "113-5938264-0371421", "MarketplaceId": "ATVPDKIKX0DER",
    "PurchaseDate": "2026-11-27T09:01:13Z", "LastUpdateDate": "2026-11-27T09:01:13Z",
    "OrderStatus": "Unshipped", "FulfillmentChannel": "MFN",
    "OrderTotal": {"CurrencyCode": "USD", "Amount": "41.97"},
    "OrderItems": [{"OrderItemId": "71234", "SellerSKU": "SKU-2040", "QuantityOrdered": 3,
                    "QuantityShipped": 0,
                    "ItemPrice": {"CurrencyCode": "USD", "Amount": "38.97"},
                    "ItemTax": {"CurrencyCode": "USD", "Amount": "3.00"},
                    "TaxCode": "A_GEN_TAX"}],
    "ShipFromLocation": "DC-EAST",
}  # fmt: skip

# CHANNELS.md's settlement example shows two rows of a longer report; its deposit is that of
# the whole report. Here the deposit is that of the two rows, so that they balance.
SETTLEMENT: dict[str, Any] = {
    "settlement_id": "11814637441", "marketplace": "ATVPDKIKX0DER",
    "start": "2026-11-20T00:00:00Z", "end": "2026-11-27T00:00:00Z", "currency": "USD",
    "deposit": "-3.87",
    "rows": [{"order_id": "113-5938264-0371421", "type": "Order", "sku": "SKU-2040",
              "principal": "38.97", "tax": "3.00", "commission": "-5.85", "fba_fee": "0.00"},
             {"order_id": None, "type": "ServiceFee", "description": "Subscription",
              "amount": "-39.99"}],
}  # fmt: skip

MOVEMENT: dict[str, Any] = {
    "movement_id": "WMS-7781-002", "type": "RECEIPT", "sku": "SKU-1001", "location": "DC-EAST",
    "quantity": 120, "ts": "2026-11-27T06:00:00Z", "reference": "PO-55121",
}  # fmt: skip


def encoded(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()
