"""The stock changes the availability flow applies to a SKU's positions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omnichannel.contracts.common import Channel
from omnichannel.contracts.inventory import InventoryMovement, MovementType


@dataclass(frozen=True, slots=True)
class StockDelta:
    """A change to one SKU's on-hand and reserved units at one location.

    `claimed` is how many units an order newly claims from what the channel offered (a new
    reservation, or a store sale that takes goods off the shelf at once): those units are
    checked against the channel's available-to-sell before the change, to catch oversells.
    """

    sku: str
    location: str
    on_hand: int
    reserved: int
    event_time: datetime
    channel: Channel | None = None
    order_id: str | None = None
    claimed: int = 0
    # The warehouse's movement id, for a change that is a movement: a re-delivery is ignored.
    movement_id: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # By value: changes cross between workers, and a frozen slotted dataclass otherwise
        # pickles through a Python __getstate__ and __setstate__ per instance.
        return StockDelta, (
            self.sku, self.location, self.on_hand, self.reserved, self.event_time, self.channel,
            self.order_id, self.claimed, self.movement_id,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class StockCount:
    """A cycle count: the absolute on-hand of a SKU at a location, as of `event_time`."""

    sku: str
    location: str
    counted: int
    event_time: datetime

    def __reduce__(self) -> tuple[Any, ...]:
        return StockCount, (self.sku, self.location, self.counted, self.event_time)


StockChange = StockDelta | StockCount


def stock_change(movement: InventoryMovement) -> StockChange:
    """A warehouse movement as the change it makes to the position."""
    if movement.movement_type is MovementType.COUNT:
        return StockCount(movement.sku, movement.location, movement.quantity, movement.event_time)
    return StockDelta(
        movement.sku,
        movement.location,
        movement.quantity,
        0,
        movement.event_time,
        movement_id=movement.movement_id,
    )
