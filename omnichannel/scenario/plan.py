"""The day's plan: how many orders each channel takes and how many units each location sells.

`events` in the settings is a budget of input records. Opening stock takes one record per SKU
and location; the rest is shared among the channels by a fixed mix and turned into orders by
how many records an order makes on average (a web order is created, mostly fulfilled, now and
then cancelled or refunded). The same plan sizes opening stock from the expected sales.
"""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

from omnichannel.contracts.common import Channel
from omnichannel.reference import LocationKind, ReferenceData
from omnichannel.scenario.basket import BASKETS
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.settings import SettingError

CHANNEL_MIX = {Channel.WEB: 0.42, Channel.POS: 0.30, Channel.MARKETPLACE: 0.17}
SPOT_MOVEMENT_MIX = 0.04  # damage, adjustments and cycle counts; replenishment comes on top
RECORDS_PER_ORDER = {Channel.WEB: 1.95, Channel.POS: 1.02, Channel.MARKETPLACE: 2.8}
# Ship-from-store takes a smaller part of web orders than the distribution centres.
WEB_STORE_PREFERENCE = 0.25
OUTLET_KIND = {Channel.WEB: "", Channel.POS: "STORE ", Channel.MARKETPLACE: "DC "}


@dataclass(frozen=True)
class DayPlan:
    """Orders per channel, spot movements, and where the channels sell from, with weights."""

    locations: list[str]
    orders: dict[Channel, int]
    spot_movements: int
    sells_from: dict[Channel, list[tuple[int, float]]]
    units_per_location: list[float]


def plan_day(
    settings: ScenarioSettings, reference: ReferenceData, locations: list[str], rng: Random
) -> DayPlan:
    """Share the record budget among the channels and locations that trade today."""
    opening = settings.skus * len(locations)
    trading = max(settings.events - opening, settings.events // 4)
    mix_total = sum(CHANNEL_MIX[c] for c in settings.channels) + SPOT_MOVEMENT_MIX
    orders = {
        c: round(trading * CHANNEL_MIX[c] / mix_total / RECORDS_PER_ORDER[c])
        for c in settings.channels
    }
    sells_from = {c: _outlets(c, reference, locations, rng) for c in settings.channels}
    for channel, outlets in sells_from.items():
        if not outlets:
            raise SettingError(
                f"scenario locations: no {OUTLET_KIND[channel]}location sells for {channel}"
            )
    units = [0.0] * len(locations)
    for channel, outlets in sells_from.items():
        expected_units = orders[channel] * BASKETS[channel].mean_units
        total_weight = sum(weight for _, weight in outlets)
        for location, weight in outlets:
            units[location] += expected_units * weight / total_weight
    return DayPlan(
        locations=locations,
        orders=orders,
        spot_movements=round(trading * SPOT_MOVEMENT_MIX / mix_total),
        sells_from=sells_from,
        units_per_location=units,
    )


def _outlets(
    channel: Channel, reference: ReferenceData, locations: list[str], rng: Random
) -> list[tuple[int, float]]:
    """Indexes of the locations a channel sells from, with the share of its traffic each takes."""
    outlets = []
    for index, code in enumerate(locations):
        location = reference.locations[code]
        if channel not in location.channels:
            continue
        if channel == Channel.POS:
            if location.kind == LocationKind.STORE:
                outlets.append((index, rng.uniform(0.6, 1.4)))
        elif channel == Channel.MARKETPLACE:
            if location.kind == LocationKind.DC:
                outlets.append((index, 1.0))
        else:
            is_dc = location.kind == LocationKind.DC
            outlets.append((index, 1.0 if is_dc else WEB_STORE_PREFERENCE))
    return outlets
