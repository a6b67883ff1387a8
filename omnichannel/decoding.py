"""Read canonical records back from their topics: their contract, or an exception record."""

from __future__ import annotations

from datetime import UTC, datetime

from omnichannel.codec import RecordCodec, codec_for
from omnichannel.contracts.common import Contract
from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.contracts.settlement import Settlement
from omnichannel.topics import Topics
from operators.adapters.raw import RawRecord, Refused, exception_record


class CanonicalDecoder:
    """Decodes the canonical topics' Avro records into their contracts."""

    def __init__(self, topics: Topics, schema_registry_url: str | None = None) -> None:
        models: dict[str, type[Contract]] = {
            topics.canonical_orders: OrderEvent,
            topics.canonical_movements: InventoryMovement,
            topics.canonical_settlements: Settlement,
        }
        self._codecs: dict[str, RecordCodec[Contract]] = {
            topic: codec_for(model, schema_registry_url, topic) for topic, model in models.items()
        }

    def decode(self, raw: RawRecord, step: str) -> Contract | ExceptionRecord:
        """The record's contract, or an exception record keeping its bytes when unreadable."""
        codec = self._codecs.get(raw.topic)
        try:
            if codec is None:
                raise Refused(ExceptionReason.INVALID_PAYLOAD, f"no contract for {raw.topic!r}")
            return codec.decode_model(raw.value)
        except (ValueError, EOFError, IndexError) as exc:
            refusal = Refused(ExceptionReason.INVALID_PAYLOAD, f"not a readable record: {exc}")
            return exception_record(raw, refusal, step, datetime.now(UTC))
        except Refused as refusal:
            return exception_record(raw, refusal, step, datetime.now(UTC))
