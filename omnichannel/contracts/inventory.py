"""The canonical inventory movement: stock arriving, leaving or being counted at a location."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from omnichannel.contracts.common import Contract, SourceCoordinates, UtcDatetime


class MovementType(StrEnum):
    """Kinds of stock movement a warehouse or the ERP reports."""

    RECEIPT = "receipt"
    ADJUSTMENT = "adjustment"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    DAMAGE = "damage"
    COUNT = "count"


class InventoryMovement(Contract):
    """A stock movement of one SKU at one location, as the WMS or ERP reported it.

    `quantity` is the signed change to on-hand (receipts and transfers in are positive,
    transfers out and damage negative, adjustments as sent), except for a COUNT, where it is
    the absolute on-hand at `event_time`: movements before it are inside it, later ones apply
    on top.
    """

    movement_id: str = Field(description="The WMS's id of the movement; unique per movement.")
    movement_type: MovementType = Field(description="What kind of movement it is.")
    sku: str = Field(description="The retailer's SKU.")
    location: str = Field(description="The location whose stock moved.")
    quantity: int = Field(description="Signed change to on-hand; for COUNT, the absolute count.")
    event_time: UtcDatetime = Field(description="When the movement happened, in UTC.")
    reference: str | None = Field(
        default=None, description="The document behind it (purchase order, transfer)."
    )
    correlation_id: str = Field(description="Ties the movement to its source document.")
    source: SourceCoordinates = Field(description="Where the raw record was read.")
