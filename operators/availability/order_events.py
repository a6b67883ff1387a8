"""What availability reads of an order event: the fields that move stock, nothing else.

A canonical order event carries prices, discounts, taxes and totals that finance needs and
availability does not. The availability flow reads `canonical.orders` through a projection
(`READ`): the Avro reader skips the other fields unread, and the event is a small tuple that
is cheap to build, to exchange between workers and to keep. An event read the slow way (an
older schema, the registry's wire format) is cut down to the same view by `OrderStockEvent.of`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from omnichannel.contracts.avro_compiled import Projection
from omnichannel.contracts.common import Channel
from omnichannel.contracts.order_event import OrderEvent, OrderEventType
from omnichannel.pickling import micros, moment


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

    def __reduce__(self) -> tuple[Any, ...]:
        # Plain values (`omnichannel.pickling`): order events cross between workers.
        return _event, (
            self.correlation_id, self.order_id, self.channel.value, self.event_type.value,
            self.document_id, micros(self.event_time), self.location, self.lines, self.restock,
        )  # fmt: skip


_CHANNELS = {channel.value: channel for channel in Channel}
_TYPES = {kind.value: kind for kind in OrderEventType}


def _event(
    correlation_id: str, order_id: str, channel: str, event_type: str, document_id: str,
    event_time: int, location: str, lines: tuple[tuple[str, int], ...], restock: bool,
) -> OrderStockEvent:  # fmt: skip
    return OrderStockEvent(
        correlation_id, order_id, _CHANNELS[channel], _TYPES[event_type], document_id,
        moment(event_time), location, lines, restock,
    )  # fmt: skip


# The fields of `OrderStockEvent` in its order, for `ProjectedReader`.
PROJECTION: Projection = {
    name: ({"sku": None, "quantity": None} if name == "lines" else None)
    for name in OrderStockEvent._fields
}
