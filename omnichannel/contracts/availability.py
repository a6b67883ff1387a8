"""What a channel may sell: the availability update published per channel and SKU."""

from __future__ import annotations

from pydantic import Field

from omnichannel.contracts.common import Channel, Contract, UtcDatetime


class AvailabilityUpdate(Contract):
    """The number of units a channel may sell now, and the inputs that make it.

    Published to `availability.<channel>` when the number changes. `version` grows with
    every update of the same (channel, SKU, location) key, so a consumer (and the Redis read
    model) can refuse anything older than what it has.
    """

    channel: Channel = Field(description="The channel the number is for.")
    sku: str = Field(description="The retailer's SKU.")
    location: str | None = Field(
        default=None,
        description="The location, for channels that sell per location (POS); else null.",
    )
    available_to_sell: int = Field(description="Units the channel may sell; never negative.")
    version: int = Field(
        description="Per-key version: the publish time in microseconds, or one more than the last; "
        "greater means newer, also across restarts."
    )
    event_time: UtcDatetime = Field(description="Event time of the newest input behind it.")
    on_hand: int = Field(description="Units physically at the locations the channel sells from.")
    reserved: int = Field(description="Units promised to open orders at those locations.")
    safety_stock: int = Field(description="Units held back in total (per location, summed).")
    buffer: int = Field(description="Units held back from the channel's total.")
    allocation_share: str = Field(description="Share of the remaining stock offered, decimal.")
    published_at: UtcDatetime = Field(description="When this update was computed, in UTC.")
