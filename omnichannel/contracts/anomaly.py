"""Something that happened but should not have: an oversell, a duplicate, a gap."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from omnichannel.contracts.common import Channel, Contract, Money, UtcDatetime


class AnomalyType(StrEnum):
    """Kinds of anomaly the flows detect.

    `oversell`: an order claimed more than its location had free (availability).
    `duplicate_event`: an event or a stock movement delivered again, not applied again
    (finance, availability). `duplicate_order`: an order's step re-submitted with the same
    content (finance). `out_of_order`: an event that came before its predecessor (finance).
    `reconciliation_gap`: what was shipped and what was invoiced or credited differ (finance).
    `movement_absorbed`, informational: a stock movement that changed no on-hand because a
    cycle count already settles it, its event time being before the position's count (or,
    for a count, not after it, or older than the changes the position keeps).
    """

    OVERSELL = "oversell"
    DUPLICATE_EVENT = "duplicate_event"
    DUPLICATE_ORDER = "duplicate_order"
    OUT_OF_ORDER = "out_of_order"
    RECONCILIATION_GAP = "reconciliation_gap"
    MOVEMENT_ABSORBED = "movement_absorbed"


class Anomaly(Contract):
    """An anomaly about one entity, with enough detail for a person to act on it."""

    anomaly_id: str = Field(description="Deterministic id: the same finding has the same id.")
    anomaly_type: AnomalyType = Field(
        description=(
            "What kind of anomaly it is: oversell, duplicate_event (an event or stock movement "
            "delivered again, not applied again), duplicate_order, out_of_order, "
            "reconciliation_gap, or movement_absorbed (informational: a stock movement whose "
            "event time is before the position's cycle count, which already includes it, so "
            "on-hand did not change; added in version 2)."
        )
    )
    entity_id: str = Field(description="What it is about: an order, a SKU at a location.")
    channel: Channel | None = Field(default=None, description="The channel, where one applies.")
    event_time: UtcDatetime = Field(description="Event time of the input that revealed it.")
    detected_at: UtcDatetime = Field(description="When the flow detected it, in UTC.")
    quantity: int | None = Field(
        default=None,
        description=(
            "Units involved: an oversell's gap; a movement's change to on-hand (for a count, "
            "the units counted)."
        ),
    )
    amount: Money | None = Field(default=None, description="Money involved, if any.")
    currency: str | None = Field(default=None, description="Currency of `amount`.")
    message: str = Field(description="What was found, in a sentence.")
    details: dict[str, str] = Field(description="Further facts, by name.")
    correlation_id: str = Field(
        description="Ties the anomaly to its order or stock movement (`movement:<id>`)."
    )
