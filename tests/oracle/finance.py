"""A reference computation of what finance must post, written apart from the flow.

From the raw replay files (skipping what the manifest says normalization refuses), per channel:
the value shipped (web fulfilments of known orders, POS sales, marketplace orders shipped) less
the value refunded (web refunds of invoiced orders, POS returns), with voided receipts taken
back. That must equal the sum of invoices less the sum of credit memos the flow posts.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from omnichannel.contracts.journal import JournalEntry, JournalEntryType

ZERO = Decimal(0)


def _rows(folder: Path, topic: str, refused: set[tuple[str, int]]) -> list[dict[str, Any]]:
    path = folder / f"{topic}.jsonl"
    return [
        json.loads(line)["value"]
        for offset, line in enumerate(path.read_text().splitlines())
        if (topic, offset) not in refused
    ]


def net_sales(folder: Path) -> dict[str, Decimal]:
    """Channel -> value shipped less value refunded, to the cent."""
    manifest = json.loads((folder / "manifest.json").read_text())
    refused = {
        (f["topic"], f["offset"])
        for f in manifest["faults"]
        if f["expected"].startswith("exception")
    }
    totals: dict[str, Decimal] = defaultdict(Decimal)

    orders: dict[int, dict[str, Any]] = {}
    shipments: dict[int, dict[int, dict[str, int]]] = defaultdict(dict)
    refunds: dict[int, dict[int, Decimal]] = defaultdict(dict)
    for hook in _rows(folder, "orders.web", refused):
        if hook["topic"] in ("orders/create", "orders/cancelled"):
            orders.setdefault(hook["id"], hook)
        elif hook["topic"] == "fulfillments/create":
            shipped = {line["sku"]: line["quantity"] for line in hook["line_items"]}
            shipments[hook["order_id"]][hook["id"]] = shipped
        elif hook["topic"] == "refunds/create":
            value = Decimal(hook["shipping_refund"]) + sum(
                (
                    Decimal(x["subtotal"]) + Decimal(x["total_tax"])
                    for x in hook["refund_line_items"]
                ),
                ZERO,
            )
            refunds[hook["order_id"]][hook["id"]] = value
    for order_id, order in orders.items():
        if not shipments.get(order_id):
            continue
        ordered = defaultdict(int)
        for item in order["line_items"]:
            ordered[item["sku"]] += item["quantity"]
        shipped = defaultdict(int)
        for lines in shipments[order_id].values():
            for sku, quantity in lines.items():
                shipped[sku] += quantity
        if shipped != ordered:
            raise NotImplementedError(
                f"order {order_id} was shipped in part: {shipped} of {ordered}"
            )
        totals["web"] += Decimal(order["total_price"]) - sum(refunds[order_id].values(), ZERO)

    receipts: dict[str, tuple[str, Decimal]] = {}
    voided: set[str] = set()
    for receipt in _rows(folder, "orders.pos", refused):
        if receipt["type"] == "VOID":
            voided.add(f"{receipt['store_id']}:{receipt['voids_receipt_no']}")
        else:
            receipts[f"{receipt['store_id']}:{receipt['receipt_no']}"] = (
                receipt["type"],
                Decimal(receipt["total"]),
            )
    for receipt_id, (kind, total) in receipts.items():
        if receipt_id not in voided:
            totals["pos"] += total if kind == "SALE" else -total

    shipped_orders: dict[str, Decimal] = {}
    for status in _rows(folder, "orders.marketplace", refused):
        if status["OrderStatus"] == "Shipped":
            shipped_orders[status["AmazonOrderId"]] = Decimal(status["OrderTotal"]["Amount"])
    totals["marketplace"] += sum(shipped_orders.values(), ZERO)
    return {channel: amount.normalize() for channel, amount in totals.items()}


def posted_net_sales(entries: Iterable[JournalEntry]) -> dict[str, Decimal]:
    """What the flow posted, to compare: invoices less credit memos per channel (settlements
    left out), read off the customer's (or the till's) side of each entry."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        if entry.entry_type is JournalEntryType.MARKETPLACE_SETTLEMENT:
            continue
        for line in entry.lines:
            if line.account_role in ("debtor", "creditor"):
                totals[entry.channel.value] += line.debit - line.credit
    return {channel: amount.normalize() for channel, amount in totals.items()}
