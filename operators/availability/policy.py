"""Available-to-sell: what a channel may sell of a SKU, from positions and the channel policy.

Per location the channel sells from, the surplus is on-hand minus reserved minus safety stock,
never below zero (a location short of stock cannot lend another one's). The channel is offered
its allocation share of the summed surplus, rounded down to whole units, less its buffer, and
never less than zero: when in doubt, advertise less.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_FLOOR, Decimal

from omnichannel.reference import ChannelPolicy


def location_surplus(on_hand: int, reserved: int, safety_stock: int) -> int:
    """Units a location can offer: on-hand less reservations and safety stock, at least 0.

    A reservation count below zero would be a bug upstream; it never adds to what is offered.
    """
    return max(0, on_hand - max(0, reserved) - safety_stock)


def available_to_sell(surpluses: Iterable[int], policy: ChannelPolicy) -> int:
    """The channel's number: its share of the surplus, in whole units, less its buffer."""
    offered = (Decimal(sum(surpluses)) * policy.allocation_share).to_integral_value(ROUND_FLOOR)
    return max(0, int(offered) - policy.buffer)
