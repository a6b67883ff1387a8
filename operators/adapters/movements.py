"""Warehouse and ERP stock movements to canonical inventory movements.

Quantities arrive as the WMS states them: positive for receipts, transfers and damage (the
type gives the direction), signed for adjustments, absolute for counts. The canonical
`quantity` is the signed change to on-hand, or the absolute count for a COUNT.
"""

from __future__ import annotations

from typing import Any, Literal

from omnichannel.contracts.exception_record import ExceptionReason
from omnichannel.contracts.inventory import InventoryMovement, MovementType
from omnichannel.reference import ReferenceData
from operators.adapters import fields
from operators.adapters.fields import Payload
from operators.adapters.raw import RawRecord, Refused

# The sign each movement type gives its positive quantity.
DIRECTION = {
    "RECEIPT": 1,
    "TRANSFER_IN": 1,
    "TRANSFER_OUT": -1,
    "DAMAGE": -1,
}


class MovementPayload(Payload):
    movement_id: str
    type: Literal["RECEIPT", "ADJUSTMENT", "TRANSFER_OUT", "TRANSFER_IN", "DAMAGE", "COUNT"]
    sku: str
    location: str
    quantity: int
    ts: str
    reference: str | None = None


def to_movement(document: dict[str, Any], raw: RawRecord, ref: ReferenceData) -> InventoryMovement:
    """The canonical movement for one WMS record."""
    movement = fields.validate_payload(MovementPayload, document)
    if movement.type in DIRECTION:
        units = DIRECTION[movement.type] * fields.quantity(movement.quantity, "quantity", ref)
    elif movement.type == "COUNT":
        units = fields.quantity(movement.quantity, "quantity", ref, allow_zero=True)
    else:
        if movement.quantity == 0:
            raise Refused(
                ExceptionReason.INVALID_QUANTITY, "quantity: an ADJUSTMENT of 0 moves nothing"
            )
        units = movement.quantity
        fields.quantity(abs(units), "quantity", ref)
    return fields.canonical(InventoryMovement, {
        "movement_id": movement.movement_id,
        "movement_type": MovementType(movement.type.lower()),
        "sku": fields.known_sku(movement.sku, "sku", ref),
        "location": fields.stock_location(movement.location, "location", ref),
        "quantity": units,
        "event_time": fields.timestamp(movement.ts, "ts"),
        "reference": movement.reference,
        "correlation_id": f"movement:{movement.movement_id}",
        "source": raw.coordinates(),
    })  # fmt: skip
