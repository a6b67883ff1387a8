"""What availability reads of an order event: the fields that move stock, nothing else.

A canonical order event carries prices, discounts, taxes and totals that finance needs and
availability does not. `view_decoder` reads `canonical.orders` through a projection: the Avro
reader skips the other fields unread (22.9 to 7.3 us per order event), and the event is a
small tuple that is cheap to build, to exchange between workers and to keep. An event read
the slow way (an older schema, the registry's wire format) is cut down to the same view by
`OrderStockEvent.of`, which is also how the stateful step takes a whole event.

The view keeps where its event was read (topic, partition, offset): the watermark counts it.

The Kafka flow reads through `view_decoder`. An earlier try failed the short chaos test (keys
published at 1 where the uninterrupted replay says 0); that was the resume bug of issue #13
(a key a dead process published after its snapshot was never superseded), which the faster
decoder exposed, not the decoding: the views are equal to the whole events' on every order
event of generated days (`tests/unit/test_projected_reader.py`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from omnichannel.contracts.avro_compiled import Projection
from omnichannel.contracts.common import Channel
from omnichannel.contracts.order_event import OrderEvent, OrderEventType
from omnichannel.decoding import CanonicalDecoder, View
from omnichannel.pickling import micros, moment
from omnichannel.topics import Topics

Whence = tuple[str, int, int]  # (topic, partition, offset) of the input record


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
    source: Whence  # where it was read: the watermark counts it

    @property
    def where(self) -> tuple[str, int]:
        """The source partition: (topic, partition)."""
        return self.source[0], self.source[1]

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
            (event.source.topic, event.source.partition, event.source.offset),
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Plain values (`omnichannel.pickling`): order events cross between workers.
        return _event, (
            self.correlation_id, self.order_id, self.channel.value, self.event_type.value,
            self.document_id, micros(self.event_time), self.location, self.lines, self.restock,
            self.source,
        )  # fmt: skip


_CHANNELS = {channel.value: channel for channel in Channel}
_TYPES = {kind.value: kind for kind in OrderEventType}


def _event(
    correlation_id: str, order_id: str, channel: str, event_type: str, document_id: str,
    event_time: int, location: str, lines: tuple[tuple[str, int], ...], restock: bool,
    source: Whence,
) -> OrderStockEvent:  # fmt: skip
    return OrderStockEvent(
        correlation_id, order_id, _CHANNELS[channel], _TYPES[event_type], document_id,
        moment(event_time), location, lines, restock, source,
    )  # fmt: skip


# The fields of `OrderStockEvent` in its order, for `ProjectedReader`.
_NESTED: Projection = {
    "lines": {"sku": None, "quantity": None},
    "source": {"topic": None, "partition": None, "offset": None},
}
PROJECTION: Projection = {name: _NESTED.get(name) for name in OrderStockEvent._fields}


def view_decoder(topics: Topics, registry: str | None = None) -> CanonicalDecoder:
    """Reads the canonical topics, order events as availability's view of them (see above)."""
    view = View(PROJECTION, OrderStockEvent, OrderStockEvent.of)
    return CanonicalDecoder(topics, registry, {topics.canonical_orders: view})
