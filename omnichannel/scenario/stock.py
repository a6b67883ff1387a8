"""The generator's own stock book: what is on hand, reserved and on order at each location.

Channels consult it before they sell so that sales mostly stay within stock, as a shop with a
working availability feed would; the warehouse consults it to replenish. It is the simulation's
truth, not the project's: the flows under test must arrive at their own numbers from the events.
Positions are flat lists indexed by `slot = sku * width + location` (width: the number of
locations), for speed; the channels' hot paths compute slots inline.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StockBook:
    """Units per SKU and location, with the replenishment policy of each position."""

    locations: list[str]
    sku_count: int
    width: int = field(init=False)
    on_hand: list[int] = field(init=False)
    reserved: list[int] = field(init=False)
    on_order: list[int] = field(init=False)
    reorder_point: list[int] = field(init=False)
    order_up_to: list[int] = field(init=False)
    drawn: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.width = len(self.locations)
        size = self.sku_count * self.width
        self.on_hand = [0] * size
        self.reserved = [0] * size
        self.on_order = [0] * size
        self.reorder_point = [0] * size
        self.order_up_to = [0] * size
        # Positions whose availability went down since the last replenishment run.
        self.drawn = []

    def slot(self, sku: int, location: int) -> int:
        return sku * self.width + location

    def available(self, slot: int) -> int:
        return self.on_hand[slot] - self.reserved[slot]
