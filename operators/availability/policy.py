"""Available-to-sell: what a channel may sell of a SKU, from positions and the channel policy.

Per location the channel sells from, the surplus is on-hand minus reserved minus safety stock,
never below zero (a location short of stock cannot lend another one's). The channel is offered
its allocation share of the summed surplus, rounded down to whole units, less its buffer, and
never less than zero: when in doubt, advertise less.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from functools import cache

from omnichannel.reference import ChannelPolicy


def location_surplus(on_hand: int, reserved: int, safety_stock: int) -> int:
    """Units a location can offer: on-hand less reservations and safety stock, at least 0.

    A reservation count below zero would be a bug upstream; it never adds to what is offered.
    """
    return max(0, on_hand - max(0, reserved) - safety_stock)


def available_to_sell(surpluses: Iterable[int], policy: ChannelPolicy) -> int:
    """The channel's number: its share of the surplus, in whole units, less its buffer.

    The share is applied as the exact fraction the decimal share is, in integers: every change
    of stock asks for several channels' numbers.
    """
    numerator, denominator = _fraction(policy.allocation_share)
    offered = sum(surpluses) * numerator // denominator  # surpluses are never below zero
    return max(0, offered - policy.buffer)


@cache
def _fraction(share: Decimal) -> tuple[int, int]:
    return share.as_integer_ratio()
