"""Normalization: one raw channel record in, one canonical event or one exception record out.

Which adapter reads a record is decided by the topic it came from, and so is the largest
payload it accepts (reference data's `[limits]`). Nothing is dropped: a record the adapter
refuses, or one too large to parse, leaves as an `ExceptionRecord` with its raw bytes, the
reason and its source coordinates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.contracts.settlement import Settlement
from omnichannel.reference import ReferenceData
from omnichannel.settings import SettingError
from omnichannel.topics import Topics
from operators.adapters import marketplace, movements, pos, settlements, web
from operators.adapters.fields import decode_json_object
from operators.adapters.raw import RawRecord, Refused, exception_record

logger = logging.getLogger(__name__)

STEP = "normalize"

Canonical = OrderEvent | InventoryMovement | Settlement
Adapter = Callable[[dict[str, Any], RawRecord, ReferenceData], Canonical]


@dataclass(frozen=True)
class Normalizer:
    """Maps each input topic to its adapter and applies it with the reference data."""

    reference: ReferenceData
    adapters: dict[str, Adapter]

    @classmethod
    def for_topics(cls, reference: ReferenceData, topics: Topics) -> Normalizer:
        """The normalizer of these input topics; a payload limit for any other topic is refused.

        Raises `SettingError` naming the entry, so that a misspelt topic in reference data
        stops the flow at start-up instead of leaving its real topic at the default limit.
        """
        adapters: dict[str, Adapter] = {
            topics.web_orders: web.to_order_event,
            topics.pos_orders: pos.to_order_event,
            topics.marketplace_orders: marketplace.to_order_event,
            topics.settlements: settlements.to_settlement,
            topics.movements: movements.to_movement,
        }
        unknown = sorted(reference.limits.max_payload_bytes_per_topic.keys() - adapters.keys())
        if unknown:
            raise SettingError(
                f'limits.max_payload_bytes_per_topic."{unknown[0]}": not an input topic '
                f"(the input topics: {', '.join(adapters)})"
            )
        return cls(reference, adapters)

    def normalize_batch(
        self, raws: Iterable[RawRecord], now: datetime
    ) -> list[Canonical | ExceptionRecord]:
        """`normalize` of each record, at one instant: what a flow's step does with a batch."""
        normalize = self.normalize
        return [normalize(raw, now) for raw in raws]

    def normalize(self, raw: RawRecord, now: datetime) -> Canonical | ExceptionRecord:
        """The canonical event for the record, or the exception record that keeps it."""
        adapter = self.adapters.get(raw.topic)
        try:
            if adapter is None:
                raise Refused(
                    ExceptionReason.INVALID_PAYLOAD, f"no adapter reads topic {raw.topic!r}"
                )
            document = decode_json_object(raw.value, self.reference.limits.payload_limit(raw.topic))
            return adapter(document, raw, self.reference)
        except Refused as refusal:
            return exception_record(raw, refusal, STEP, now)
        except Exception as exc:
            # A bug in an adapter must not stop the flow or lose the record: it is kept with
            # its own reason, which the property tests require never to appear.
            logger.exception("adapter for %s failed on offset %s", raw.topic, raw.offset)
            failure = Refused(ExceptionReason.ADAPTER_FAILURE, f"adapter failed: {exc!r}")
            return exception_record(raw, failure, STEP, now)
