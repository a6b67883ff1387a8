"""Exact amounts for generated payloads: `Decimal` only, written with the currency's decimals.

Every amount a channel sends is a decimal string with exactly as many places as the currency's
minor unit (reference `currencies`). Rounding is half-up, as tills and shop carts round.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal(0)


class Purse:
    """Rounds and writes amounts of one currency."""

    __slots__ = ("currency", "exponent", "unit", "zero_text")

    def __init__(self, currency: str, exponent: int) -> None:
        self.currency = currency
        self.exponent = exponent
        self.unit = Decimal(1).scaleb(-exponent)
        self.zero_text = str(ZERO.quantize(self.unit))

    def round(self, amount: Decimal) -> Decimal:
        return amount.quantize(self.unit, ROUND_HALF_UP)

    def text(self, amount: Decimal) -> str:
        """The amount as the channel writes it: `19.99`, never `-0.00` nor `1.9E+1`."""
        rounded = amount.quantize(self.unit, ROUND_HALF_UP)
        return str(rounded) if rounded else str(abs(rounded))

    def from_minor(self, minor_units: int) -> Decimal:
        """An amount given in minor units (cents), e.g. a drawn fee."""
        return Decimal(minor_units).scaleb(-self.exponent)
