"""Serialization of contract records: every output record carries its schema identity.

By default a record is written in Avro single-object encoding: the marker `C3 01`, the 8-byte
little-endian CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form, then the Avro
binary body. A reader finds the writer's schema by that fingerprint (`SchemaStore`), so records
written under an earlier released schema are still read, resolved into the current one. When a
schema registry URL is configured, the Confluent wire format is written instead (magic byte 0,
4-byte big-endian schema id, body), through confluent-kafka's Avro serializer.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from io import BytesIO
from typing import Any, Generic, TypeVar, cast, overload

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

from omnichannel.contracts.avro_compiled import CompiledCodec, Uncompiled
from omnichannel.contracts.avro_schema import avro_schema
from omnichannel.contracts.common import Contract

SINGLE_OBJECT_MARKER = b"\xc3\x01"
SINGLE_OBJECT_HEADER_LENGTH = len(SINGLE_OBJECT_MARKER) + 8
CONFLUENT_MAGIC_BYTE = 0

M = TypeVar("M", bound=Contract)


def schema_fingerprint(schema: Mapping[str, Any]) -> tuple[str, bytes]:
    """Return a schema's Parsing Canonical Form and its CRC-64-AVRO fingerprint (8 bytes, LE)."""
    canonical_form = to_parsing_canonical_form(dict(schema))
    # fastavro gives the fingerprint as hex of its little-endian bytes, as the spec's Java does.
    return canonical_form, bytes.fromhex(fingerprint(canonical_form, "CRC-64-AVRO"))


class RecordCodec(ABC, Generic[M]):
    """Writes and reads the records of one contract; the model helpers sit on encode/decode."""

    model: type[M] | None

    @abstractmethod
    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Return the framed Avro bytes of an Avro-ready record dict."""

    @abstractmethod
    def decode(self, data: bytes) -> dict[str, Any]:
        """Return the record dict that `data` holds, in the current schema."""

    def encode_model(self, instance: M) -> bytes:
        """Return the framed Avro bytes of a contract instance."""
        return self.encode(to_avro_record(instance))

    def decode_model(self, data: bytes) -> M:
        """Return the contract instance that `data` holds, validated by the model."""
        if self.model is None:
            raise TypeError(f"{type(self).__name__} was built from a schema, not a model")
        return self.model.model_validate(self.decode(data))


def to_avro_record(instance: Contract) -> dict[str, Any]:
    """Return a contract instance as an Avro-ready dict.

    Nested contracts become dicts; Decimals, aware datetimes, dates and bytes stay as they are
    (fastavro writes them through the logical types). Enum members are `StrEnum`s, so they
    already are their value strings: fastavro matches them against the symbols as strings.
    """
    return instance.model_dump()


class AvroCodec(RecordCodec[M]):
    """Single-object encoding under one schema, parsed once; `decode` accepts only that schema.

    A codec built from a model writes and reads its instances through a writer and a reader
    compiled from the schema (`omnichannel.contracts.avro_compiled`): the same bytes and the
    same instances as fastavro and pydantic, several times faster. A record the compiled path
    does not take goes through fastavro and pydantic, to the same result or the same error.
    """

    @overload
    def __init__(self: AvroCodec[M], model_or_schema: type[M]) -> None: ...

    @overload
    def __init__(self: AvroCodec[Contract], model_or_schema: Mapping[str, Any]) -> None: ...

    def __init__(self, model_or_schema: type[M] | Mapping[str, Any]) -> None:
        if isinstance(model_or_schema, Mapping):
            self.model = None
            self.schema = dict(model_or_schema)
        else:
            self.model = model_or_schema
            self.schema = avro_schema(model_or_schema)
        self.parsed = parse_schema(self.schema)
        self.canonical_form, self.fingerprint = schema_fingerprint(self.schema)
        self.header = SINGLE_OBJECT_MARKER + self.fingerprint
        self.compiled: CompiledCodec | None = None
        if self.model is not None:
            try:
                self.compiled = CompiledCodec(self.model, self.schema)
            except Uncompiled:
                self.compiled = None

    def encode_model(self, instance: M) -> bytes:
        """Return the framed Avro bytes of a contract instance."""
        if self.compiled is not None and type(instance) is self.model:
            try:
                return self.compiled.write(instance, self.header)
            except Exception:  # noqa: BLE001 - not for the compiled path: see below
                # fastavro writes it, to the same bytes, or raises the error it always raised.
                return self.encode(to_avro_record(instance))
        return self.encode(to_avro_record(instance))

    def append_body(self, instance: M, out: bytearray) -> None:
        """Append the Avro binary body (no header) of a contract instance to `out`: a block of
        an Avro container file is the bodies of its records, one after the other."""
        if self.compiled is not None and type(instance) is self.model:
            mark = len(out)
            try:
                self.compiled.write_into(instance, out)
                return
            except Exception:  # noqa: BLE001 - not for the compiled path: as in encode_model
                del out[mark:]
        buffer = BytesIO()
        schemaless_writer(buffer, self.parsed, to_avro_record(instance))
        out += buffer.getvalue()

    def decode_model(self, data: bytes) -> M:
        """Return the contract instance that `data` holds, validated by the model."""
        if self.compiled is not None and data.startswith(self.header):
            try:
                return cast(M, self.compiled.read(data, SINGLE_OBJECT_HEADER_LENGTH))
            except Exception:  # noqa: BLE001 - not for the compiled path: see below
                # fastavro and pydantic read it, to the same instance, or raise their error.
                return super().decode_model(data)
        return super().decode_model(data)

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Return header + Avro binary body of `record`."""
        buffer = BytesIO()
        buffer.write(self.header)
        schemaless_writer(buffer, self.parsed, record)
        return buffer.getvalue()

    def decode(self, data: bytes) -> dict[str, Any]:
        """Return the record in `data`, which must carry this codec's fingerprint."""
        found = read_fingerprint(data)
        if found != self.fingerprint:
            raise ValueError(
                f"record was written with schema fingerprint {found.hex()}, "
                f"expected {self.fingerprint.hex()} ({self.schema.get('name')})"
            )
        return _read_body(data, self.parsed, None)


class SchemaStore(RecordCodec[M]):
    """Writes with the current schema; reads records written with it or any known earlier one.

    Earlier (released) schemas are found by the fingerprint in each record and resolved into
    the current schema by Avro schema resolution: new fields take their defaults.
    """

    def __init__(self, current: AvroCodec[M], previous: Iterable[Mapping[str, Any]] = ()) -> None:
        self.current = current
        self.model = current.model
        self._writers: dict[bytes, Any] = {current.fingerprint: current.parsed}
        for schema in previous:
            self.add(schema)

    def add(self, schema: Mapping[str, Any]) -> bytes:
        """Know one more writer schema; return its fingerprint."""
        _, found = schema_fingerprint(schema)
        self._writers.setdefault(found, parse_schema(dict(schema)))
        return found

    @property
    def fingerprints(self) -> frozenset[bytes]:
        """Fingerprints of every schema this store reads."""
        return frozenset(self._writers)

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Return the record in single-object encoding under the current schema."""
        return self.current.encode(record)

    def encode_model(self, instance: M) -> bytes:
        """Return the framed Avro bytes of a contract instance, under the current schema."""
        return self.current.encode_model(instance)

    def decode_model(self, data: bytes) -> M:
        """Return the contract instance in `data`, from its writer's schema, validated."""
        if data.startswith(self.current.header):
            return self.current.decode_model(data)
        return super().decode_model(data)

    def decode(self, data: bytes) -> dict[str, Any]:
        """Return the record in `data`, read from its writer's schema into the current one."""
        found = read_fingerprint(data)
        writer = self._writers.get(found)
        if writer is None:
            known = ", ".join(sorted(fp.hex() for fp in self._writers))
            raise ValueError(
                f"record was written with unknown schema fingerprint {found.hex()}, "
                f"expected one of {known} ({self.current.schema.get('name')})"
            )
        reader = None if found == self.current.fingerprint else self.current.parsed
        return _read_body(data, writer, reader)


def read_fingerprint(data: bytes) -> bytes:
    """Return the schema fingerprint of a single-object encoded record, checking its marker."""
    if data[:2] != SINGLE_OBJECT_MARKER or len(data) < SINGLE_OBJECT_HEADER_LENGTH:
        raise ValueError(
            f"not Avro single-object encoding: expected marker c301 and an 8-byte fingerprint, "
            f"found {bytes(data[:SINGLE_OBJECT_HEADER_LENGTH]).hex() or 'no bytes'}"
        )
    return bytes(data[2:SINGLE_OBJECT_HEADER_LENGTH])


def _read_body(data: bytes, writer: Any, reader: Any) -> dict[str, Any]:
    buffer = BytesIO(data)
    buffer.seek(SINGLE_OBJECT_HEADER_LENGTH)
    record = schemaless_reader(buffer, writer, reader)
    if buffer.tell() != len(data):
        raise ValueError(f"{len(data) - buffer.tell()} bytes left over after the Avro record")
    return cast(dict[str, Any], record)


class ConfluentCodec(RecordCodec[M]):
    """Confluent wire format for one topic's values: magic byte 0, schema id, Avro body.

    The schema is registered under the subject `<topic>-value` on first encode. A URL
    `mock://<scope>` gives confluent-kafka's in-memory registry (for tests), one per codec.
    """

    def __init__(self, model: type[M], registry_url: str, topic: str) -> None:
        # Imported here: the registry client pulls in an HTTP stack that flows without a
        # registry never need.
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
        from confluent_kafka.serialization import MessageField, SerializationContext

        self.model = model
        self.topic = topic
        schema_str = json.dumps(avro_schema(model))
        self.registry = SchemaRegistryClient.new_client({"url": registry_url})
        subjects = {"subject.name.strategy.type": "TOPIC"}
        self._serializer = AvroSerializer(self.registry, schema_str, conf=subjects)
        self._deserializer = AvroDeserializer(self.registry, schema_str, conf=subjects)
        self._context = SerializationContext(topic, MessageField.VALUE)

    @property
    def subject(self) -> str:
        """The registry subject the value schema is registered under."""
        return f"{self.topic}-value"

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Return magic byte + schema id + Avro body of `record`."""
        return cast(bytes, self._serializer(dict(record), self._context))

    def decode(self, data: bytes) -> dict[str, Any]:
        """Return the record in `data`, read with the registered writer schema."""
        return cast(dict[str, Any], self._deserializer(data, self._context))


def confluent_serializer(model: type[M], registry_url: str, topic: str) -> ConfluentCodec[M]:
    """Return the Confluent wire-format codec of a contract's values on `topic`."""
    return ConfluentCodec(model, registry_url, topic)


def codec_for(
    model: type[M],
    schema_registry_url: str | None,
    topic: str | None = None,
    previous_schemas: Iterable[Mapping[str, Any]] = (),
) -> RecordCodec[M]:
    """Return the codec configured for a contract: single-object encoding unless a registry is.

    Args:
        model: the contract whose records are written and read.
        schema_registry_url: the Confluent schema registry; None for single-object encoding.
        topic: the topic the records go to; needed for the registry subject.
        previous_schemas: released earlier schemas that single-object decoding still reads.
    """
    if schema_registry_url is None:
        return SchemaStore(AvroCodec(model), previous_schemas)
    if not topic:
        raise ValueError(f"{model.__name__}: a topic is needed to use the schema registry")
    return confluent_serializer(model, schema_registry_url, topic)
