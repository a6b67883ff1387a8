"""What availability reads of an order event: the fields that move stock, nothing else.

A canonical order event carries prices, discounts, taxes and totals that finance needs and
availability does not. The availability flow reads `canonical.orders` through a projection
(`READ`): the Avro reader skips the other fields unread, and the event is a small tuple that
is cheap to build, to exchange between workers and to keep. An event read the slow way (an
older schema, the registry's wire format) is cut down to the same view by `OrderStockEvent.of`.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from omnichannel.contracts.avro_compiled import Projection
from omnichannel.contracts.common import Channel
from omnichannel.contracts.order_event import OrderEvent, OrderEventType


class OrderStockEvent(NamedTuple):
    """An order event as availability sees it: which order, what happened, where, to what."""

    correlation_id: str
    order_id: str
    channel: Channel
    event_type: OrderEventType
    document_id: str
    event_time: datetime
    location: str
    lines: tuple[tuple[str, int], ...]  # (SKU, quantity) of each line
    restock: bool

    @classmethod
    def of(cls, event: OrderEvent) -> OrderStockEvent:
        """The view of a whole event."""
        return cls(
            event.correlation_id,
            event.order_id,
            event.channel,
            event.event_type,
            event.document_id,
            event.event_time,
            event.location,
            tuple((line.sku, line.quantity) for line in event.lines),
            event.restock,
        )


# The fields of `OrderStockEvent` in its order, for `ProjectedReader`.
PROJECTION: Projection = {
    name: ({"sku": None, "quantity": None} if name == "lines" else None)
    for name in OrderStockEvent._fields
}
