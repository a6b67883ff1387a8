"""Record codecs: single-object encoding, reading older schemas, and the Confluent wire format."""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any

import avro.io
import avro.schema
import pytest
from pydantic import Field

from omnichannel.codec import (
    AvroCodec,
    ConfluentCodec,
    SchemaStore,
    codec_for,
    read_fingerprint,
    to_avro_record,
)
from omnichannel.contracts.avro_schema import avro_schema
from omnichannel.contracts.common import Channel, Contract
from omnichannel.contracts.journal import JournalEntry
from omnichannel.contracts.registry import CONTRACTS
from omnichannel.contracts.schema_files import released_schemas
from tests.unit.contract_examples import EXAMPLES, POS_SALE_INVOICE

CRC_64_AVRO_EMPTY = 0xC15D213AA4D7A795
PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def crc_64_avro(data: bytes) -> int:
    """The Avro specification's reference fingerprint64 algorithm, transcribed."""
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (CRC_64_AVRO_EMPTY & -(fp & 1))
        table.append(fp)
    fp = CRC_64_AVRO_EMPTY
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def apache_canonical_form(schema: dict[str, Any]) -> str:
    """Apache Avro's Parsing Canonical Form, with the spec's [PRIMITIVES] rule applied after.

    Apache Avro 1.12.2 (Python) leaves a logical type's primitive as `{"type":"long"}` where
    the spec (and the Java implementation) write `"long"`; that one rule is applied here.
    """

    def simple(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"type"} and node["type"] in PRIMITIVES:
                return node["type"]
            return {key: simple(value) for key, value in node.items()}
        if isinstance(node, list):
            return [simple(item) for item in node]
        return node

    form = json.loads(avro.schema.parse(json.dumps(schema)).canonical_form)
    return json.dumps(simple(form), separators=(",", ":"), ensure_ascii=False)


def test_every_contract_has_an_example() -> None:
    assert set(EXAMPLES) == set(CONTRACTS)


@pytest.mark.parametrize("name", list(CONTRACTS))
def test_round_trip_of_every_contract(name: str) -> None:
    codec = AvroCodec(CONTRACTS[name])
    data = codec.encode_model(EXAMPLES[name])
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == codec.fingerprint
    assert codec.decode_model(data) == EXAMPLES[name]


@pytest.mark.parametrize("name", list(CONTRACTS))
def test_apache_avro_reads_what_we_write(name: str) -> None:
    codec = AvroCodec(CONTRACTS[name])
    data = codec.encode_model(EXAMPLES[name])
    assert data[:2] == b"\xc3\x01"
    assert read_fingerprint(data) == codec.fingerprint
    schema = avro.schema.parse(json.dumps(codec.schema))
    body = BytesIO(data[10:])
    decoded = avro.io.DatumReader(schema, schema).read(avro.io.BinaryDecoder(body))
    assert body.read() == b""
    assert decoded == to_avro_record(EXAMPLES[name])
    assert CONTRACTS[name].model_validate(decoded) == EXAMPLES[name]


@pytest.mark.parametrize("name", list(CONTRACTS))
def test_fingerprint_equals_an_independent_computation(name: str) -> None:
    codec = AvroCodec(CONTRACTS[name])
    canonical_form = apache_canonical_form(codec.schema)
    assert codec.canonical_form == canonical_form
    expected = crc_64_avro(canonical_form.encode()).to_bytes(8, "little")
    assert codec.fingerprint == expected


def test_fingerprint_equals_apache_avros_where_no_logical_type_is_involved() -> None:
    class Plain(Contract):
        """Only primitive, enum, array and map fields."""

        name: str = Field(description="n")
        count: int = Field(description="c")
        channel: Channel | None = Field(default=None, description="ch")
        tags: list[str] = Field(description="t")
        attributes: dict[str, str] = Field(description="a")

    codec = AvroCodec(Plain)
    assert codec.fingerprint == avro.schema.parse(json.dumps(codec.schema)).fingerprint()


def test_codec_built_from_a_schema_reads_dicts_but_not_models() -> None:
    codec = AvroCodec(avro_schema(JournalEntry))
    record = to_avro_record(POS_SALE_INVOICE)
    data = codec.encode(record)
    assert codec.decode(data) == record
    with pytest.raises(TypeError, match="built from a schema, not a model"):
        codec.decode_model(data)


def test_decode_refuses_a_record_of_another_schema() -> None:
    data = AvroCodec(JournalEntry).encode_model(POS_SALE_INVOICE)
    other = AvroCodec(CONTRACTS["Anomaly"])
    with pytest.raises(ValueError, match="written with schema fingerprint") as raised:
        other.decode(data)
    assert data[2:10].hex() in str(raised.value)
    assert f"expected {other.fingerprint.hex()}" in str(raised.value)


@pytest.mark.parametrize(
    "data", [b"", b"\xc3\x01\x00", b"\x00\x00\x00\x00\x01" + bytes(20), b"{}"], ids=repr
)
def test_decode_refuses_what_is_not_single_object_encoding(data: bytes) -> None:
    with pytest.raises(ValueError, match="not Avro single-object encoding"):
        AvroCodec(JournalEntry).decode(data)


def test_decode_refuses_trailing_bytes() -> None:
    data = AvroCodec(JournalEntry).encode_model(POS_SALE_INVOICE)
    with pytest.raises(ValueError, match="3 bytes left over"):
        AvroCodec(JournalEntry).decode(data + b"abc")


def widget_v1() -> type[Contract]:
    class Widget(Contract):
        """A widget, as first released."""

        widget_id: str = Field(description="Its id.")
        quantity: int = Field(description="How many.")

    return Widget


def widget_v2() -> type[Contract]:
    class Widget(Contract):
        """A widget, with fields added since."""

        widget_id: str = Field(description="Its id.")
        quantity: int = Field(description="How many.")
        channel: Channel | None = Field(default=None, description="Where it sells.")
        note: str = Field(default="n/a", description="A note.")

    return Widget


def test_schema_store_reads_records_of_an_earlier_schema_into_the_current_one() -> None:
    old, new = widget_v1(), widget_v2()
    store = SchemaStore(AvroCodec(new), [avro_schema(old)])
    old_data = AvroCodec(old).encode({"widget_id": "w-1", "quantity": 3})
    assert store.decode_model(old_data) == new.model_validate({"widget_id": "w-1", "quantity": 3})
    current = new.model_validate(
        {"widget_id": "w-2", "quantity": 4, "channel": Channel.POS, "note": "x"}
    )
    assert store.decode_model(store.encode_model(current)) == current
    assert store.fingerprints == {AvroCodec(old).fingerprint, AvroCodec(new).fingerprint}


def test_schema_store_refuses_an_unknown_schema() -> None:
    store = SchemaStore(AvroCodec(widget_v2()))
    data = AvroCodec(widget_v1()).encode({"widget_id": "w-1", "quantity": 3})
    with pytest.raises(ValueError, match="unknown schema fingerprint") as raised:
        store.decode(data)
    assert data[2:10].hex() in str(raised.value)


@pytest.mark.parametrize("name", list(CONTRACTS))
def test_records_written_with_every_released_schema_are_read(name: str) -> None:
    released = released_schemas(name)
    assert released, f"{name} has no released schema"
    codec = codec_for(CONTRACTS[name], None, previous_schemas=released)
    for schema in released:
        data = AvroCodec(schema).encode(to_avro_record(EXAMPLES[name]))
        assert codec.decode_model(data) == EXAMPLES[name]


def test_codec_for_without_registry_is_single_object_encoding() -> None:
    codec = codec_for(JournalEntry, None)
    assert isinstance(codec, SchemaStore)
    assert codec.encode_model(POS_SALE_INVOICE)[:2] == b"\xc3\x01"


def test_codec_for_a_registry_needs_a_topic() -> None:
    with pytest.raises(ValueError, match="JournalEntry: a topic is needed"):
        codec_for(JournalEntry, "mock://codec-tests")


def test_confluent_wire_format_round_trip_with_the_mock_registry() -> None:
    codec = codec_for(JournalEntry, "mock://codec-tests", topic="erp.postings")
    assert isinstance(codec, ConfluentCodec)
    data = codec.encode_model(POS_SALE_INVOICE)
    registered = codec.registry.get_latest_version("erp.postings-value")
    assert data[0] == 0
    assert int.from_bytes(data[1:5], "big") == registered.schema_id
    assert registered.schema.schema_str is not None
    assert json.loads(registered.schema.schema_str) == avro_schema(JournalEntry)
    assert data[5:] == AvroCodec(JournalEntry).encode_model(POS_SALE_INVOICE)[10:]
    assert codec.decode_model(data) == POS_SALE_INVOICE
