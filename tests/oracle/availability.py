"""A reference computation of final availability, written apart from the flow, for the tests.

It reads the raw replay files (not the canonical events), skips the records the scenario's
manifest says are refused, and computes each channel's final number in plain Python, from the
rules in CHANNELS.md and the principle that every on-hand change happened at a physical time
that a cycle count settles:

- web: a placed, uncancelled order reserves what it ordered minus what was shipped; each
  fulfilment takes goods at its time; a restocking refund returns goods (at most what was
  shipped) at the later of its time and the last shipment;
- POS: a sale takes goods at its time, a return brings them back, a void undoes its receipt;
- marketplace: the newest status snapshot gives the lines; Unshipped or Shipped places the
  order, Canceled cancels it, Shipped takes the goods at its first time;
- a COUNT is the on-hand at the start of its time (of two of one instant, the lower): changes
  from then on apply on top, earlier ones are inside it.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from omnichannel.reference import ReferenceData

Spot = tuple[str, str]


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@dataclass
class _Order:
    snapshot: tuple[datetime, dict[Spot, int]] | None = None
    placed: bool = False
    cancelled: bool = False
    shipped_at: datetime | None = None
    shipments: dict[str, tuple[datetime, dict[Spot, int]]] = field(default_factory=dict)
    restocks: dict[str, tuple[datetime, dict[Spot, int]]] = field(default_factory=dict)

    def see_snapshot(self, when: datetime, lines: dict[Spot, int]) -> None:
        if self.snapshot is None or when >= self.snapshot[0]:
            self.snapshot = (when, lines)


def _lines(items: list[dict[str, Any]], sku: str, qty: str, location: str) -> dict[Spot, int]:
    units: dict[Spot, int] = defaultdict(int)
    for item in items:
        units[(item[sku], location)] += int(item[qty])
    return dict(units)


def _records(folder: Path, topic: str, refused: set[tuple[str, int]]) -> list[dict[str, Any]]:
    path = folder / f"{topic}.jsonl"
    if not path.exists():
        return []
    rows = []
    for offset, line in enumerate(path.read_text().splitlines()):
        if (topic, offset) not in refused:
            rows.append(json.loads(line)["value"])
    return rows


def final_availability(
    folder: Path, reference: ReferenceData
) -> dict[tuple[str, str, str | None], int]:
    """(channel, SKU, location or None) -> the final available-to-sell, for every key > 0."""
    manifest = json.loads((folder / "manifest.json").read_text())
    refused = {
        (fault["topic"], fault["offset"])
        for fault in manifest["faults"]
        if fault["expected"].startswith("exception")
    }
    changes: dict[Spot, list[tuple[datetime, int]]] = defaultdict(list)
    counts: dict[Spot, tuple[datetime, int]] = {}
    orders: dict[str, _Order] = defaultdict(_Order)

    for move in _records(folder, "inventory.movements", refused):
        spot, when, units = (move["sku"], move["location"]), _when(move["ts"]), move["quantity"]
        if move["type"] == "COUNT":
            # The newest count stands; of two of one instant, the lower.
            newest = counts.get(spot)
            if newest is None or when > newest[0] or (when == newest[0] and units < newest[1]):
                counts[spot] = (when, units)
        else:
            sign = -1 if move["type"] in ("TRANSFER_OUT", "DAMAGE") else 1
            changes[spot].append((when, sign * units))

    for hook in _records(folder, "orders.web", refused):
        topic = hook["topic"]
        if topic in ("orders/create", "orders/cancelled"):
            order = orders[f"web:{hook['id']}"]
            lines = _lines(hook["line_items"], "sku", "quantity", hook["fulfillment_location"])
            order.see_snapshot(_when(hook["updated_at"]), lines)
            order.placed = True
            order.cancelled |= topic == "orders/cancelled"
        elif topic == "fulfillments/create":
            lines = _lines(hook["line_items"], "sku", "quantity", hook["location"])
            order = orders[f"web:{hook['order_id']}"]
            order.shipments[str(hook["id"])] = (_when(hook["created_at"]), lines)
        elif topic == "refunds/create" and hook["restock"]:
            lines = _lines(hook["refund_line_items"], "sku", "quantity", hook["location"])
            order = orders[f"web:{hook['order_id']}"]
            order.restocks[str(hook["id"])] = (_when(hook["created_at"]), lines)

    for status in _records(folder, "orders.marketplace", refused):
        order = orders[f"marketplace:{status['AmazonOrderId']}"]
        when = _when(status["LastUpdateDate"])
        location = status["ShipFromLocation"]
        order.see_snapshot(
            when, _lines(status["OrderItems"], "SellerSKU", "QuantityOrdered", location)
        )
        state = status["OrderStatus"]
        order.placed |= state in ("Unshipped", "Shipped")
        order.cancelled |= state == "Canceled"
        if state == "Shipped":
            order.shipped_at = when if order.shipped_at is None else min(order.shipped_at, when)

    receipts: dict[str, tuple[str, datetime, dict[Spot, int]]] = {}
    voided: set[str] = set()
    for receipt in _records(folder, "orders.pos", refused):
        store = receipt["store_id"]
        if receipt["type"] == "VOID":
            voided.add(f"{store}:{receipt['voids_receipt_no']}")
            continue
        units: dict[Spot, int] = defaultdict(int)
        for line in receipt["lines"]:
            sku = reference.sku_for_ean(line["ean"])
            assert sku is not None, line
            units[(sku, store)] += line["qty"]
        receipts[f"{store}:{receipt['receipt_no']}"] = (
            receipt["type"],
            _when(receipt["ts"]),
            units,
        )
    for receipt_id, (kind, when, units) in receipts.items():
        if receipt_id not in voided:
            for spot, qty in units.items():
                changes[spot].append((when, -qty if kind == "SALE" else qty))

    reserved: dict[Spot, int] = defaultdict(int)
    for order in orders.values():
        ordered = order.snapshot[1] if order.snapshot else {}
        shipments = dict(order.shipments)
        if order.shipped_at is not None:
            shipments = {"marketplace": (order.shipped_at, ordered)}
        shipped: dict[Spot, int] = defaultdict(int)
        for when, lines in shipments.values():
            for spot, qty in lines.items():
                shipped[spot] += qty
                changes[spot].append((when, -qty))
        if order.placed and not order.cancelled:
            for spot, qty in ordered.items():
                reserved[spot] += max(0, qty - shipped[spot])
        if not shipments:
            continue
        last_shipment = max(when for when, _ in shipments.values())
        # Restocks in the order they happened (then by document), each up to what is left.
        for _, (when, lines) in sorted(order.restocks.items(), key=lambda d: (d[1][0], d[0])):
            for spot, qty in lines.items():
                back = min(qty, shipped[spot])
                if back > 0:
                    shipped[spot] -= back
                    changes[spot].append((max(when, last_shipment), back))

    on_hand: dict[Spot, int] = {}
    for spot in set(changes) | set(counts):
        if spot in counts:
            counted_at, counted = counts[spot]
            on_hand[spot] = counted + sum(u for t, u in changes[spot] if t >= counted_at)
        else:
            on_hand[spot] = sum(u for _, u in changes[spot])

    result: dict[tuple[str, str, str | None], int] = {}
    skus = {sku for sku, _ in set(on_hand) | set(reserved)}
    for channel, policy in reference.channels.items():
        locations = reference.locations_for(channel)
        groups = [[loc] for loc in locations] if policy.per_location else [locations]
        for sku in skus:
            for group in groups:
                surplus = sum(
                    max(
                        0,
                        on_hand.get((sku, loc), 0)
                        - max(0, reserved[(sku, loc)])
                        - policy.safety_stock,
                    )
                    for loc in group
                )
                number = math.floor(Decimal(surplus) * policy.allocation_share) - policy.buffer
                if number > 0:
                    result[(channel.value, sku, group[0] if policy.per_location else None)] = number
    return result
