"""Avro schemas generated from contract models: every supported type, defaults, docs, errors."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from io import BytesIO
from typing import Any, Literal

import avro.schema
import fastavro
import pytest
from pydantic import Field, create_model

from omnichannel.contracts.avro_schema import (
    DATE_SCHEMA,
    DECIMAL_SCHEMA,
    NAMESPACE,
    TIMESTAMP_SCHEMA,
    avro_schema,
)
from omnichannel.contracts.common import Channel, Contract, Money, SourceCoordinates, UtcDatetime
from omnichannel.contracts.registry import CONTRACTS


class Colour(StrEnum):
    """A colour a widget comes in.

    Only the first paragraph becomes the Avro doc.
    """

    RED = "red"
    DARK_BLUE = "dark_blue"


class Part(Contract):
    """A part of a widget."""

    sku: str = Field(description="The part's SKU.")
    price: Money = Field(description="What the part costs.")


def one_field_model(annotation: Any, **field: Any) -> type[Contract]:
    """A contract `Probe` with the single field `value` of the given annotation."""
    info = Field(description="The value.", **field)
    model: type[Contract] = create_model("Probe", __base__=Contract, value=(annotation, info))
    return model


def value_field(annotation: Any, **field: Any) -> dict[str, Any]:
    fields: list[dict[str, Any]] = avro_schema(one_field_model(annotation, **field))["fields"]
    return fields[0]


COLOUR_ENUM = {
    "type": "enum",
    "name": "Colour",
    "doc": "A colour a widget comes in.",
    "symbols": ["red", "dark_blue"],
}
PART_RECORD = {
    "type": "record",
    "name": "Part",
    "doc": "A part of a widget.",
    "fields": [
        {"name": "sku", "type": "string", "doc": "The part's SKU."},
        {"name": "price", "type": DECIMAL_SCHEMA, "doc": "What the part costs."},
    ],
}


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (str, "string"),
        (int, "long"),
        (bool, "boolean"),
        (bytes, "bytes"),
        (Money, DECIMAL_SCHEMA),
        (UtcDatetime, TIMESTAMP_SCHEMA),
        (date, DATE_SCHEMA),
        (Colour, COLOUR_ENUM),
        (Part, PART_RECORD),
        (list[str], {"type": "array", "items": "string"}),
        (list[Money], {"type": "array", "items": DECIMAL_SCHEMA}),
        (dict[str, str], {"type": "map", "values": "string"}),
        (list[list[int]], {"type": "array", "items": {"type": "array", "items": "long"}}),
    ],
    ids=lambda value: getattr(value, "__name__", None) or str(value)[:20],
)
def test_each_supported_type(annotation: Any, expected: Any) -> None:
    assert value_field(annotation) == {"name": "value", "type": expected, "doc": "The value."}


@pytest.mark.parametrize(
    ("annotation", "branch"),
    [
        (str, "string"),
        (Money, DECIMAL_SCHEMA),
        (UtcDatetime, TIMESTAMP_SCHEMA),
        (Part, PART_RECORD),
    ],
)
def test_optional_is_a_union_with_null_first_and_default_null(annotation: Any, branch: Any) -> None:
    assert value_field(annotation | None, default=None) == {
        "name": "value",
        "type": ["null", branch],
        "doc": "The value.",
        "default": None,
    }


def test_required_optional_still_defaults_to_null_for_readers_of_older_data() -> None:
    assert value_field(str | None)["default"] is None


def test_optional_with_a_value_default_puts_that_branch_first() -> None:
    field = value_field(str | None, default="n/a")
    assert field["type"] == ["string", "null"]
    assert field["default"] == "n/a"


@pytest.mark.parametrize(
    ("annotation", "default", "avro_default"),
    [
        (str, "n/a", "n/a"),
        (int, 0, 0),
        (bool, True, True),
        (Colour, Colour.DARK_BLUE, "dark_blue"),
        (list[str], ["a"], ["a"]),
        (dict[str, str], {"k": "v"}, {"k": "v"}),
        (list[Colour], [Colour.RED], ["red"]),
    ],
    ids=lambda value: getattr(value, "__name__", None) or str(value)[:20],
)
def test_defaults_are_written_in_avro_json_form(
    annotation: Any, default: Any, avro_default: Any
) -> None:
    assert value_field(annotation, default=default)["default"] == avro_default


def test_default_factories_are_called() -> None:
    assert value_field(list[Part], default_factory=list)["default"] == []


@pytest.mark.parametrize(
    ("annotation", "default"),
    [
        (Money, Decimal("0")),
        (Money | None, Decimal("0.25")),
        (UtcDatetime, datetime(2026, 1, 1, tzinfo=UTC)),
        (date, date(2026, 1, 1)),
        (bytes, b"\x00"),
        (Part, Part(sku="x", price=Decimal("1"))),
    ],
    # Named without addresses: test ids must be the same in every process that collects them.
    ids=["money", "optional-money", "utc-datetime", "date", "bytes", "contract"],
)
def test_defaults_that_readers_would_not_convert_are_refused(annotation: Any, default: Any) -> None:
    with pytest.raises(TypeError, match=r"^Probe\.value: .*make the field `X \| None = None`"):
        value_field(annotation, default=default)


def test_defaults_fill_fields_that_older_data_lacks() -> None:
    """Data written without the fields reads back with exactly the models' defaults."""

    class Defaults(Contract):
        """Every default kind."""

        name: str = Field(description="Always there.")
        count: int = Field(default=3, description="d")
        flag: bool = Field(default=True, description="d")
        colour: Colour = Field(default=Colour.DARK_BLUE, description="d")
        note: str | None = Field(default=None, description="d")
        label: str | None = Field(default="n/a", description="d")
        tags: list[str] = Field(default_factory=list, description="d")
        attributes: dict[str, str] = Field(default={"k": "v"}, description="d")
        amount: Money | None = Field(default=None, description="d")

    reader = avro_schema(Defaults)
    writer = dict(reader, fields=reader["fields"][:1])
    buffer = BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(writer), {"name": "x"})
    buffer.seek(0)
    read = fastavro.schemaless_reader(
        buffer, fastavro.parse_schema(writer), fastavro.parse_schema(reader)
    )
    assert Defaults.model_validate(read) == Defaults(name="x")


def test_record_layout_namespace_and_docs() -> None:
    class Widget(Contract):
        """A widget on sale.

        A longer explanation that stays out of the schema.
        """

        widget_id: str = Field(description="Its id.")
        colour: Colour = Field(description="Its colour.")

    assert avro_schema(Widget) == {
        "type": "record",
        "name": "Widget",
        "namespace": NAMESPACE,
        "doc": "A widget on sale.",
        "fields": [
            {"name": "widget_id", "type": "string", "doc": "Its id."},
            {"name": "colour", "type": COLOUR_ENUM, "doc": "Its colour."},
        ],
    }


def test_named_types_are_defined_once_then_referred_to_by_full_name() -> None:
    class Assembly(Contract):
        """Parts and colours, used more than once."""

        main: Part = Field(description="The main part.")
        spares: list[Part] = Field(description="Spare parts.")
        colour: Colour = Field(description="Colour.")
        trim: Colour | None = Field(default=None, description="Trim colour.")

    types = [field["type"] for field in avro_schema(Assembly)["fields"]]
    assert types == [
        PART_RECORD,
        {"type": "array", "items": f"{NAMESPACE}.Part"},
        COLOUR_ENUM,
        ["null", f"{NAMESPACE}.Colour"],
    ]
    fastavro.parse_schema(avro_schema(Assembly))


def test_output_is_deterministic_and_in_model_field_order() -> None:
    names = [field["name"] for field in avro_schema(SourceCoordinates)["fields"]]
    assert names == list(SourceCoordinates.model_fields)
    assert json.dumps(avro_schema(SourceCoordinates)) == json.dumps(avro_schema(SourceCoordinates))


class PlainEnum(Enum):
    A = "a"


class BadSymbols(StrEnum):
    SPACED = "two words"


@pytest.mark.parametrize(
    ("annotation", "reason"),
    [
        (float, "not a supported contract field type"),
        (Decimal, "use Money"),
        (datetime, "use UtcDatetime"),
        (PlainEnum, "not a supported contract field type"),
        (BadSymbols, "not valid Avro symbols"),
        (dict[int, str], "map keys are strings"),
        (str | int, "only `X | None` unions"),
        (str | int | None, "only `X | None` unions"),
        (tuple[str, str], "not a supported contract field type"),
        (Literal["a"], "not a supported contract field type"),
        (list[float], "not a supported contract field type"),
    ],
    ids=str,
)
def test_unsupported_annotations_name_model_and_field(annotation: Any, reason: str) -> None:
    with pytest.raises(TypeError, match=r"^Probe\.value: no Avro mapping for ") as raised:
        avro_schema(one_field_model(annotation))
    assert reason in str(raised.value)


def test_an_error_in_a_nested_contract_names_that_contract() -> None:
    class Inner(Contract):
        """Has a float."""

        ratio: float = Field(description="Not allowed.")

    class Outer(Contract):
        """Holds Inner."""

        inner: Inner = Field(description="Nested.")

    with pytest.raises(TypeError, match=r"^Inner\.ratio: "):
        avro_schema(Outer)


@pytest.mark.parametrize("name", list(CONTRACTS))
def test_every_contract_generates_a_schema_both_avro_libraries_parse(name: str) -> None:
    schema = avro_schema(CONTRACTS[name])
    assert schema["name"] == name
    fastavro.parse_schema(schema)
    parsed = avro.schema.parse(json.dumps(schema))
    assert isinstance(parsed, avro.schema.RecordSchema)
    assert parsed.fullname == f"{NAMESPACE}.{name}"


def test_channel_enum_symbols_are_its_values() -> None:
    assert value_field(Channel)["type"]["symbols"] == ["web", "pos", "marketplace"]
