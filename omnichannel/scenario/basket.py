"""What a customer puts in the basket, per channel: how many lines, how many units of each.

The same shapes drive the simulation and the day's plan (which sizes opening stock from the
units it expects to sell), so the two cannot drift apart.
"""

from __future__ import annotations

import math
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from random import Random

from omnichannel.contracts.common import Channel


def draw_bounds(weights: Sequence[float]) -> tuple[tuple[float, ...], float]:
    """Cumulative bounds for drawing by `bisect(bounds, random() * total)`, and the total.

    The last bound is infinite, so that rounding in `random() * total` cannot draw past the end.
    """
    bounds = list(accumulate(weights))
    total = bounds[-1]
    bounds[-1] = math.inf
    return tuple(bounds), total


@dataclass(frozen=True)
class Spread:
    """A small discrete distribution: values and their relative weights."""

    values: tuple[int, ...]
    weights: tuple[float, ...]
    _bounds: tuple[float, ...] = field(init=False, repr=False)
    _total: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        bounds, total = draw_bounds(self.weights)
        object.__setattr__(self, "_bounds", bounds)
        object.__setattr__(self, "_total", total)

    def draw(self, rng: Random) -> int:
        return self.values[bisect(self._bounds, rng.random() * self._total)]

    def sampler(self, rng: Random) -> Callable[[], int]:
        """`draw` bound to one random stream: a plain call, for loops over every order line.

        Small whole-number weights are drawn from a table that repeats each value by its
        weight: one index instead of a bisection, and exactly the same distribution.
        """
        random = rng.random
        if all(float(w).is_integer() for w in self.weights) and sum(self.weights) <= 1_000:
            table = [
                v for v, w in zip(self.values, self.weights, strict=True) for _ in range(int(w))
            ]
            size = len(table)
            return lambda: table[int(random() * size)]
        values, bounds, total = self.values, self._bounds, self._total
        return lambda: values[bisect(bounds, random() * total)]

    @property
    def mean(self) -> float:
        return sum(v * w for v, w in zip(self.values, self.weights, strict=True)) / sum(
            self.weights
        )


@dataclass(frozen=True)
class BasketShape:
    """Lines per order and units per line of one channel."""

    lines: Spread
    units: Spread

    @property
    def mean_units(self) -> float:
        return self.lines.mean * self.units.mean


BASKETS = {
    Channel.WEB: BasketShape(Spread((1, 2, 3, 4), (55, 25, 13, 7)), Spread((1, 2, 3), (80, 15, 5))),
    Channel.POS: BasketShape(
        Spread((1, 2, 3, 4, 5, 6), (30, 25, 18, 12, 9, 6)), Spread((1, 2, 3), (82, 14, 4))
    ),
    Channel.MARKETPLACE: BasketShape(Spread((1, 2), (85, 15)), Spread((1, 2, 3), (80, 15, 5))),
}
