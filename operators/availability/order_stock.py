"""What one order does to stock: reservations it holds and goods it took or brought back.

The order's events are folded into facts that only grow (the lines ordered, whether it was
placed, cancelled or voided, each fulfilment, refund and receipt by its document id). From the
facts follows a target: units reserved per (SKU, location), and the on-hand changes, each at the
moment it happened physically. The order emits the difference between the target and what it
emitted before. So an exact re-delivery, a re-sent status, or events in the wrong order never
move stock twice, and a late status can never undo what a newer one did.

- web: create reserves at the fulfilment location, cancel releases, a fulfilment consumes
  (on-hand and reservation both go down), a refund with restock returns what was shipped;
- POS: a sale takes stock at once, a return puts it back, a void makes its receipt as if it
  never happened (also when the void arrives first);
- marketplace: Pending reserves nothing, Unshipped reserves, Shipped consumes, Canceled
  releases; the newest status by `LastUpdateDate` says what the order holds.

Every on-hand change carries its physical time, because a cycle count settles all changes
before it: a shipment at its fulfilment time, a restock when the goods could be back (the later
of the refund and the last shipment), a receipt at its time. Taking a change back (a void)
carries the time of the change it takes back.

Conservative under doubt: a restock is applied only up to what the order is known to have
shipped, so a refund that overtakes its fulfilment never advertises goods not yet back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from omnichannel.contracts.common import Channel
from omnichannel.contracts.order_event import OrderEventType
from operators.availability.order_events import OrderStockEvent
from operators.availability.stock_changes import StockDelta

Spot = tuple[str, str]  # (sku, location)
Quantities = dict[Spot, int]
Document = tuple[Quantities, datetime]
# An on-hand change: (spot, what caused it, the document) -> (units, when it happened).
Effects = dict[tuple[Spot, str, str], tuple[int, datetime]]

_E = OrderEventType


def quantities(event: OrderStockEvent) -> Quantities:
    """Units per (SKU, location) on the event's lines."""
    units: Quantities = {}
    location = event.location
    for sku, quantity in event.lines:
        spot = (sku, location)
        units[spot] = units.get(spot, 0) + quantity
    return units


@dataclass(slots=True)
class OrderStock:
    """The stock facts of one order and the stock changes it has emitted."""

    ordered: Quantities = field(default_factory=dict)
    ordered_as_of: datetime | None = None
    placed: bool = False
    cancelled: bool = False
    voided: bool = False
    marketplace_shipped_at: datetime | None = None
    shipments: dict[str, Document] = field(default_factory=dict)
    restocks: dict[str, Document] = field(default_factory=dict)
    receipt: tuple[str, Document] | None = None  # ("sale" or "return", the receipt)
    emitted_reserved: Quantities = field(default_factory=dict)
    emitted_effects: Effects = field(default_factory=dict)

    def copy(self) -> OrderStock:
        """An independent copy: what a snapshot holds.

        The values in the dicts are immutable, or dicts that are replaced and never changed in
        place, so new dicts of the same values suffice.
        """
        return OrderStock(
            dict(self.ordered), self.ordered_as_of, self.placed, self.cancelled, self.voided,
            self.marketplace_shipped_at, dict(self.shipments), dict(self.restocks), self.receipt,
            dict(self.emitted_reserved), dict(self.emitted_effects),
        )  # fmt: skip

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by value: a slotted dataclass otherwise pickles through a Python
        # __getstate__ that looks its fields up on every call.
        return OrderStock, _ORDER_STOCK_FIELDS(self)

    def apply(self, event: OrderStockEvent) -> list[StockDelta]:
        """Fold the event into the facts; return the stock changes that follow."""
        self._learn(event)
        return self._changes(event)

    def _learn(self, event: OrderStockEvent) -> None:
        kind, when = event.event_type, event.event_time
        if kind in (_E.PENDING, _E.PLACED, _E.CANCELLED) or (
            kind is _E.SHIPPED and event.channel is Channel.MARKETPLACE
        ):
            # A status snapshot: the newest one says what the order holds.
            if self.ordered_as_of is None or when >= self.ordered_as_of:
                self.ordered = quantities(event)
                self.ordered_as_of = when
            self.placed |= kind in (_E.PLACED, _E.SHIPPED)
            self.cancelled |= kind is _E.CANCELLED
            if kind is _E.SHIPPED:
                shipped_at = self.marketplace_shipped_at
                self.marketplace_shipped_at = when if shipped_at is None else min(shipped_at, when)
        elif kind is _E.SHIPPED:
            self.shipments[event.document_id] = (quantities(event), when)
        elif kind is _E.REFUNDED:
            if event.restock:
                self.restocks[event.document_id] = (quantities(event), when)
        elif kind is _E.STORE_SALE:
            self.receipt = ("sale", (quantities(event), when))
        elif kind is _E.STORE_RETURN:
            self.receipt = ("return", (quantities(event), when))
        elif kind is _E.STORE_VOID:
            self.voided = True

    def _shipments(self) -> dict[str, Document]:
        if self.marketplace_shipped_at is not None:
            return {"marketplace": (self.ordered, self.marketplace_shipped_at)}
        return self.shipments

    def target_reserved(self) -> Quantities:
        """Units the order holds per spot: what it ordered and was not shipped yet."""
        if not self.placed or self.cancelled:
            return {}
        shipped = _summed(units for units, _ in self._shipments().values())
        return {
            spot: units - shipped.get(spot, 0)
            for spot, units in self.ordered.items()
            if units > shipped.get(spot, 0)
        }

    def target_effects(self) -> Effects:
        """The on-hand changes the facts call for, each at its physical time."""
        effects: Effects = {}
        shipments = self._shipments()
        for document, (units, when) in shipments.items():
            for spot, count in units.items():
                effects[(spot, "ship", document)] = (-count, when)
        last_shipment = max((when for _, when in shipments.values()), default=None)
        returnable = _summed(units for units, _ in shipments.values())
        for document, (units, when) in sorted(self.restocks.items(), key=lambda d: (d[1][1], d[0])):
            for spot, count in units.items():
                back = min(count, returnable.get(spot, 0))
                if back > 0 and last_shipment is not None:
                    returnable[spot] -= back
                    effects[(spot, "restock", document)] = (back, max(when, last_shipment))
        if self.receipt is not None and not self.voided:
            kind, (units, when) = self.receipt
            sign = -1 if kind == "sale" else 1
            for spot, count in units.items():
                effects[(spot, kind, "receipt")] = (sign * count, when)
        return effects

    def _changes(self, event: OrderStockEvent) -> list[StockDelta]:
        changes: list[StockDelta] = []

        def change(spot: Spot, on_hand: int, reserved: int, when: datetime, claimed: int) -> None:
            changes.append(
                StockDelta(
                    spot[0],
                    spot[1],
                    on_hand,
                    reserved,
                    when,
                    event.channel,
                    event.order_id,
                    claimed,
                )
            )

        reserved = self.target_reserved()
        for spot in sorted(set(reserved) | set(self.emitted_reserved)):
            now, was = reserved.get(spot, 0), self.emitted_reserved.get(spot, 0)
            if now != was:
                change(spot, 0, now - was, event.event_time, claimed=max(0, now - was))
        self.emitted_reserved = reserved

        effects = self.target_effects()
        for cause in sorted(set(effects) | set(self.emitted_effects)):
            now_effect, was_effect = effects.get(cause), self.emitted_effects.get(cause)
            if now_effect == was_effect:
                continue
            spot, kind, _ = cause
            if was_effect is not None:
                # Taken back at the time it happened, so a count settles it the same way.
                change(spot, -was_effect[0], 0, was_effect[1], claimed=0)
            if now_effect is not None:
                sold = -now_effect[0] if kind == "sale" else 0
                change(spot, now_effect[0], 0, now_effect[1], claimed=sold)
        self.emitted_effects = effects
        return changes


_ORDER_STOCK_FIELDS = attrgetter(*(f.name for f in fields(OrderStock)))


def _summed(documents: Iterable[Quantities]) -> Quantities:
    total: Quantities = {}
    for units in documents:
        for spot, count in units.items():
            total[spot] = total.get(spot, 0) + count
    return total
