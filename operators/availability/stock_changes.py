"""The stock changes the availability flow applies to a SKU's positions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omnichannel.contracts.common import Channel
from omnichannel.contracts.inventory import InventoryMovement, MovementType
from omnichannel.pickling import micros, moment


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
        # Plain values (`omnichannel.pickling`): changes cross between workers, and a frozen
        # slotted dataclass otherwise pickles through a Python __getstate__ per instance.
        return _delta, (
            self.sku, self.location, self.on_hand, self.reserved, micros(self.event_time),
            self.channel.value if self.channel else None, self.order_id, self.claimed,
            self.movement_id,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class StockCount:
    """A cycle count: the absolute on-hand of a SKU at a location, as of `event_time`."""

    sku: str
    location: str
    counted: int
    event_time: datetime
    # The warehouse's movement id: a count delivered again is reported as such, not as stale.
    movement_id: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return _count, (
            self.sku, self.location, self.counted, micros(self.event_time), self.movement_id
        )  # fmt: skip


StockChange = StockDelta | StockCount
_CHANNELS = {channel.value: channel for channel in Channel}


def _delta(
    sku: str, location: str, on_hand: int, reserved: int, event_time: int, channel: str | None,
    order_id: str | None, claimed: int, movement_id: str | None,
) -> StockDelta:  # fmt: skip
    return StockDelta(
        sku, location, on_hand, reserved, moment(event_time),
        _CHANNELS[channel] if channel is not None else None, order_id, claimed, movement_id,
    )  # fmt: skip


def _count(
    sku: str, location: str, counted: int, event_time: int, movement_id: str | None
) -> StockCount:
    return StockCount(sku, location, counted, moment(event_time), movement_id)


def stock_change(movement: InventoryMovement) -> StockChange:
    """A warehouse movement as the change it makes to the position."""
    if movement.movement_type is MovementType.COUNT:
        return StockCount(
            movement.sku,
            movement.location,
            movement.quantity,
            movement.event_time,
            movement.movement_id,
        )
    return StockDelta(
        movement.sku,
        movement.location,
        movement.quantity,
        0,
        movement.event_time,
        movement_id=movement.movement_id,
    )
