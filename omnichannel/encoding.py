"""Encode routed contract records for their topics, with one codec per contract and topic."""

from __future__ import annotations

from omnichannel.codec import RecordCodec, codec_for
from omnichannel.contracts.common import Contract
from omnichannel.kafka_io import OutboundRecord
from operators.routing import Routed


class RecordEncoder:
    """Avro single-object encoding by default; the Confluent wire format with a registry URL."""

    def __init__(self, schema_registry_url: str | None = None) -> None:
        self._registry_url = schema_registry_url
        self._codecs: dict[tuple[type[Contract], str], RecordCodec[Contract]] = {}

    def codec(self, model: type[Contract], topic: str) -> RecordCodec[Contract]:
        # Single-object encoding does not depend on the topic; the registry's subject does.
        cache_key = (model, topic if self._registry_url else "")
        codec = self._codecs.get(cache_key)
        if codec is None:
            codec = codec_for(model, self._registry_url, topic)
            self._codecs[cache_key] = codec
        return codec

    def encode(self, routed: Routed) -> OutboundRecord:
        codec = self.codec(type(routed.record), routed.topic)
        return OutboundRecord(routed.topic, routed.key.encode(), codec.encode_model(routed.record))
