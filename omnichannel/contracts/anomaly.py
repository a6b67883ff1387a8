"""Something that happened but should not have: an oversell, a duplicate, a gap."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from omnichannel.contracts.common import Channel, Contract, Money, UtcDatetime


class AnomalyType(StrEnum):
    """Kinds of anomaly the flows detect."""

    OVERSELL = "oversell"
    DUPLICATE_EVENT = "duplicate_event"
    DUPLICATE_ORDER = "duplicate_order"
    OUT_OF_ORDER = "out_of_order"
    RECONCILIATION_GAP = "reconciliation_gap"


class Anomaly(Contract):
    """An anomaly about one entity, with enough detail for a person to act on it."""

    anomaly_id: str = Field(description="Deterministic id: the same finding has the same id.")
    anomaly_type: AnomalyType = Field(description="What kind of anomaly it is.")
    entity_id: str = Field(description="What it is about: an order, a SKU at a location.")
    channel: Channel | None = Field(default=None, description="The channel, where one applies.")
    event_time: UtcDatetime = Field(description="Event time of the input that revealed it.")
    detected_at: UtcDatetime = Field(description="When the flow detected it, in UTC.")
    quantity: int | None = Field(default=None, description="Units involved (an oversell's gap).")
    amount: Money | None = Field(default=None, description="Money involved, if any.")
    currency: str | None = Field(default=None, description="Currency of `amount`.")
    message: str = Field(description="What was found, in a sentence.")
    details: dict[str, str] = Field(description="Further facts, by name.")
    correlation_id: str = Field(description="Ties the anomaly to its order or stock key.")
