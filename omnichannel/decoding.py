"""Read canonical records back from their topics: their contract, or an exception record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from omnichannel.codec import (
    SINGLE_OBJECT_HEADER_LENGTH,
    AvroCodec,
    RecordCodec,
    SchemaStore,
    codec_for,
)
from omnichannel.contracts.avro_compiled import ProjectedReader, Projection, Uncompiled
from omnichannel.contracts.common import Contract
from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.contracts.settlement import Settlement
from omnichannel.topics import Topics
from operators.adapters.raw import RawRecord, Refused, exception_record


@dataclass(frozen=True)
class View:
    """What a flow reads of one topic's records: some fields (`projection`), made into its own
    type by `make` (the fields in the projection's order), or by `of` from a whole record."""

    projection: Projection
    make: Callable[..., Any]
    of: Callable[[Any], Any]


class CanonicalDecoder:
    """Decodes the canonical topics' Avro records into their contracts, or into a flow's view.

    With a `View` for a topic, a record written under the current schema is read through a
    projected reader (the fields the view needs, the rest skipped); any other record (an older
    schema, the registry's wire format, bytes the projection does not take) is read whole, as
    without the view, and cut down by `View.of`: the same value, or the same exception record.
    A tolerant reader: the fields a view skips are not checked, so a record whose only fault
    is in one of them (an amount beyond Money's bounds, say) is read, where the whole contract
    would refuse it. Normalization writes no such record; finance, which reads it whole, would
    still refuse it.
    """

    def __init__(
        self,
        topics: Topics,
        schema_registry_url: str | None = None,
        views: Mapping[str, View] | None = None,
    ) -> None:
        models: dict[str, type[Contract]] = {
            topics.canonical_orders: OrderEvent,
            topics.canonical_movements: InventoryMovement,
            topics.canonical_settlements: Settlement,
        }
        self._codecs: dict[str, RecordCodec[Contract]] = {
            topic: codec_for(model, schema_registry_url, topic) for topic, model in models.items()
        }
        self._views: dict[str, tuple[View, bytes, ProjectedReader | None]] = {}
        for topic, view in (views or {}).items():
            codec = self._codecs[topic]
            if isinstance(codec, SchemaStore):
                codec = codec.current
            if isinstance(codec, AvroCodec) and codec.model is not None:
                reader = ProjectedReader(codec.model, codec.schema, view.projection, view.make)
                self._views[topic] = (view, codec.header, reader)
            else:
                self._views[topic] = (view, b"", None)

    def decode(self, raw: RawRecord, step: str) -> Any:
        """The record's contract (or its view), or an exception record keeping its bytes when
        unreadable."""
        seen = self._views.get(raw.topic)
        if seen is not None:
            view, header, reader = seen
            if reader is not None and raw.value.startswith(header):
                try:
                    return reader.read(raw.value, SINGLE_OBJECT_HEADER_LENGTH)
                except (Uncompiled, ValueError, IndexError, TypeError):
                    pass  # read whole below: the same value, or the reason it is unreadable
            whole = self._whole(raw, step)
            return whole if isinstance(whole, ExceptionRecord) else view.of(whole)
        return self._whole(raw, step)

    def _whole(self, raw: RawRecord, step: str) -> Contract | ExceptionRecord:
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
