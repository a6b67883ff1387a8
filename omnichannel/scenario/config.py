"""Settings of a synthetic trading day: its size, its shape over the hours, and its faults.

`ScenarioSettings` is what a test, the demo or a benchmark asks for. It is checked on its own
when built and against the reference data when a day is generated (`check_against`), so a
request the catalog or the locations cannot serve fails with the setting's name.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from omnichannel.contracts.common import Channel
from omnichannel.reference import ReferenceData
from omnichannel.settings import SettingError

BLACK_FRIDAY_2026 = date(2026, 11, 27)

# What each channel must find in reference data for its clean records to normalize.
CHANNEL_CURRENCY = {Channel.WEB: "USD", Channel.POS: "EUR", Channel.MARKETPLACE: "USD"}
CHANNEL_TAX_CODES = {
    Channel.WEB: ("US-NY", "US-CA"),
    Channel.POS: ("DE-19", "DE-7"),
    Channel.MARKETPLACE: ("A_GEN_TAX",),
}


def _day_of_hours(weights: tuple[float, ...]) -> tuple[float, ...]:
    if len(weights) != 24:
        raise ValueError(f"expected 24 hourly weights, got {len(weights)}")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError("hourly weights must be finite and not negative")
    if sum(weights) <= 0:
        raise ValueError("at least one hour must have a positive weight")
    return weights


HourlyWeights = Annotated[tuple[float, ...], AfterValidator(_day_of_hours)]

# Black Friday online: a midnight doorbuster spike, a dip before dawn, an evening peak.
ONLINE_HOURS: tuple[float, ...] = (
    6, 5, 3, 2, 1.5, 1.5, 2, 3, 4, 5, 5.5, 6, 6.5, 6, 6, 6.5, 7, 8, 9, 10, 10, 9, 8, 6,
)  # fmt: skip
# Stores open 09:00 to 20:00 local time, busiest around lunch and late afternoon.
STORE_HOURS: tuple[float, ...] = (
    0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 6, 8, 10, 10, 8, 8, 9, 10, 9, 6, 0, 0, 0, 0,
)  # fmt: skip
MARKETPLACE_HOURS: tuple[float, ...] = (
    5, 4, 3, 2, 1.5, 1.5, 2, 3, 4, 5, 6, 6, 6.5, 6.5, 6, 6, 6.5, 7.5, 8.5, 9, 9, 8, 7, 6,
)  # fmt: skip


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PeakCurve(_Frozen):
    """How a channel's traffic spreads over the 24 hours of the day (relative weights).

    Web and marketplace hours are UTC, as their timestamps are; POS hours are the stores'
    local time, so `pos[9]` is the first hour after a store opens at 09:00.
    """

    web: HourlyWeights = ONLINE_HOURS
    pos: HourlyWeights = STORE_HOURS
    marketplace: HourlyWeights = MARKETPLACE_HOURS

    def for_channel(self, channel: Channel) -> tuple[float, ...]:
        weights: tuple[float, ...] = getattr(self, channel.value)
        return weights


Rate = Annotated[float, Field(ge=0, le=1)]


class FaultRates(_Frozen):
    """How often each fault is injected, as a fraction of the records it can apply to.

    A non-zero rate injects `round(rate * applicable)` faults, and at least one, so that
    every configured fault shows up even in a small day; but a share that rounds to none never
    takes the only record a fault could apply to (such as a small day's one settlement).
    """

    duplicate_webhook: Rate = 0.02
    pos_backlog_resend: Rate = 0.01
    late_marketplace_status: Rate = 0.02
    refund_before_fulfilment: Rate = 0.02
    late_stock_movement: Rate = 0.01
    unmapped_tax_code: Rate = 0.01
    unknown_sku: Rate = 0.01
    settlement_unbalanced: Rate = 0.02
    malformed_json: Rate = 0.01

    @classmethod
    def none(cls) -> FaultRates:
        return cls.model_validate(dict.fromkeys(cls.model_fields, 0.0))

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in type(self).model_fields}


class ScenarioSettings(_Frozen):
    """One synthetic trading day: which part of the world trades, how much, and what breaks."""

    seed: int = 0
    day: date = BLACK_FRIDAY_2026
    skus: int = Field(default=200, gt=0, description="SKUs of the catalog that sell today.")
    locations: tuple[str, ...] | None = Field(
        default=None, description="Reference locations that trade today; all when unset."
    )
    channels: tuple[Channel, ...] = tuple(Channel)
    events: int = Field(default=20_000, gt=0, description="Approximate number of input records.")
    peak_curve: PeakCurve = PeakCurve()
    faults: FaultRates = FaultRates()

    @classmethod
    def clean(cls, **values: Any) -> ScenarioSettings:
        """Settings of a day without any injected fault; other settings as given."""
        return cls.model_validate({**values, "faults": FaultRates.none()})

    @field_validator("channels")
    @classmethod
    def _distinct_channels(cls, channels: tuple[Channel, ...]) -> tuple[Channel, ...]:
        if not channels:
            raise ValueError("at least one channel must trade")
        return tuple(c for c in Channel if c in channels)

    @field_validator("locations")
    @classmethod
    def _distinct_locations(cls, codes: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if codes is not None and not codes:
            raise ValueError("at least one location must trade (leave unset for all)")
        return None if codes is None else tuple(sorted(set(codes)))

    def trading_locations(self, reference: ReferenceData) -> list[str]:
        """Codes of the locations that trade today, sorted."""
        return list(self.locations) if self.locations else sorted(reference.locations)

    def check_against(self, reference: ReferenceData, catalog_size: int) -> None:
        """Fail with the setting's name when reference data cannot serve this day."""
        if self.skus > catalog_size:
            raise SettingError(
                f"scenario skus: {self.skus} SKUs asked for, the catalog has {catalog_size}"
            )
        unknown = [code for code in self.locations or () if code not in reference.locations]
        if unknown:
            raise SettingError(f"scenario locations: not in reference data: {', '.join(unknown)}")
        trading = self.trading_locations(reference)
        for channel in self.channels:
            if not any(channel in reference.locations[code].channels for code in trading):
                raise SettingError(f"scenario locations: none of them serves channel {channel}")
            currency = CHANNEL_CURRENCY[channel]
            if currency not in reference.currencies or not reference.accepts_currency(
                channel, currency
            ):
                raise SettingError(f"reference data: channel {channel} must accept {currency}")
            for code in CHANNEL_TAX_CODES[channel]:
                if code not in reference.tax_codes:
                    raise SettingError(f"reference data: tax code {code} is missing")
            if channel == Channel.WEB and any(
                reference.tax_codes[code].rate is None for code in CHANNEL_TAX_CODES[channel]
            ):
                raise SettingError("reference data: web tax codes need a rate")
