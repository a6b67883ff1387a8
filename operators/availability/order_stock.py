"""What one order does to stock: reservations it holds and goods it took or brought back.

The order's events are folded into facts that only grow (the lines ordered, whether it was
placed, cancelled or voided, each fulfilment, refund and receipt by its document id). From the
facts follows a target: units reserved and the on-hand change per (SKU, location). The order
emits the difference between the target and what it emitted before. So an exact re-delivery,
a re-sent status, or events in the wrong order never move stock twice, and a late status can
never undo what a newer one did.

- web: create reserves at the fulfilment location, cancel releases, a fulfilment consumes
  (on-hand and reservation both go down), a refund with restock returns what was shipped;
- POS: a sale takes stock at once, a return puts it back, a void reverses its receipt (and a
  void that arrives before its receipt keeps that receipt from ever moving stock);
- marketplace: Pending reserves nothing, Unshipped reserves, Shipped consumes, Canceled
  releases; the newest status by `LastUpdateDate` wins.

Conservative under doubt: a restock is applied only up to what the order is known to have
shipped, so a refund that overtakes its fulfilment never advertises goods not yet back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from omnichannel.contracts.common import Channel
from omnichannel.contracts.order_event import OrderEvent, OrderEventType
from operators.availability.stock_changes import StockDelta

Spot = tuple[str, str]  # (sku, location)
Quantities = dict[Spot, int]

_E = OrderEventType


def quantities(event: OrderEvent) -> Quantities:
    """Units per (SKU, location) on the event's lines."""
    units: Quantities = {}
    for line in event.lines:
        spot = (line.sku, event.location)
        units[spot] = units.get(spot, 0) + line.quantity
    return units


@dataclass(slots=True)
class OrderStock:
    """The stock facts of one order and the stock changes it has emitted."""

    channel: Channel | None = None
    order_id: str = ""
    ordered: Quantities = field(default_factory=dict)
    ordered_as_of: datetime | None = None
    placed: bool = False
    cancelled: bool = False
    voided: bool = False
    marketplace_shipped: bool = False
    shipments: dict[str, Quantities] = field(default_factory=dict)
    restocks: dict[str, Quantities] = field(default_factory=dict)
    sold: Quantities = field(default_factory=dict)
    returned: Quantities = field(default_factory=dict)
    # What was emitted so far: (reserved, on-hand change) per spot.
    emitted: dict[Spot, tuple[int, int]] = field(default_factory=dict)

    def apply(self, event: OrderEvent) -> list[StockDelta]:
        """Fold the event into the facts; return the stock changes that follow."""
        self.channel = event.channel
        self.order_id = event.order_id
        self._learn(event)
        return self._changes(event)

    def _learn(self, event: OrderEvent) -> None:
        kind = event.event_type
        if kind in (_E.PENDING, _E.PLACED, _E.CANCELLED) or (
            kind is _E.SHIPPED and event.channel is Channel.MARKETPLACE
        ):
            # A status snapshot: the newest one says what the order holds.
            if self.ordered_as_of is None or event.event_time >= self.ordered_as_of:
                self.ordered = quantities(event)
                self.ordered_as_of = event.event_time
            self.placed |= kind in (_E.PLACED, _E.SHIPPED)
            self.cancelled |= kind is _E.CANCELLED
            self.marketplace_shipped |= kind is _E.SHIPPED
        elif kind is _E.SHIPPED:
            self.shipments[event.document_id] = quantities(event)
        elif kind is _E.REFUNDED:
            if event.restock:
                self.restocks[event.document_id] = quantities(event)
        elif kind is _E.STORE_SALE:
            self.sold = quantities(event)
        elif kind is _E.STORE_RETURN:
            self.returned = quantities(event)
        elif kind is _E.STORE_VOID:
            self.voided = True

    def shipped(self) -> Quantities:
        if self.marketplace_shipped:
            return dict(self.ordered)
        return _summed(self.shipments.values())

    def target(self) -> dict[Spot, tuple[int, int]]:
        """Units reserved and the on-hand change per spot that the facts call for."""
        shipped = self.shipped()
        restocked = _summed(self.restocks.values())
        spots = set(self.ordered) | set(shipped) | set(restocked) | set(self.sold)
        spots |= set(self.returned) | set(self.emitted)
        holding = self.placed and not self.cancelled
        targets = {}
        for spot in spots:
            out = shipped.get(spot, 0)
            reserved = max(0, self.ordered.get(spot, 0) - out) if holding else 0
            on_hand = min(restocked.get(spot, 0), out) - out
            if not self.voided:
                on_hand += self.returned.get(spot, 0) - self.sold.get(spot, 0)
            targets[spot] = (reserved, on_hand)
        return targets

    def _changes(self, event: OrderEvent) -> list[StockDelta]:
        changes = []
        for spot, (reserved, on_hand) in sorted(self.target().items()):
            was_reserved, was_on_hand = self.emitted.get(spot, (0, 0))
            if (reserved, on_hand) == (was_reserved, was_on_hand):
                continue
            self.emitted[spot] = (reserved, on_hand)
            # New claims on offered stock: more reserved, or goods sold off the shelf unreserved.
            claimed = max(0, reserved - was_reserved)
            if event.event_type is _E.STORE_SALE:
                claimed += max(0, was_on_hand - on_hand)
            changes.append(
                StockDelta(
                    sku=spot[0],
                    location=spot[1],
                    on_hand=on_hand - was_on_hand,
                    reserved=reserved - was_reserved,
                    event_time=event.event_time,
                    channel=event.channel,
                    order_id=event.order_id,
                    claimed=claimed,
                )
            )
        return changes


def _summed(documents: Iterable[Quantities]) -> Quantities:
    total: Quantities = {}
    for units in documents:
        for spot, count in units.items():
            total[spot] = total.get(spot, 0) + count
    return total
