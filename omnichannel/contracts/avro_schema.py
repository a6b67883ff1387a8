"""Avro schemas generated from the contract models, so the two cannot disagree.

A contract is written once, as a pydantic model; its Avro schema (a JSON-able dict) is derived
from it field by field, in the model's field order, with the field descriptions as Avro docs.
The mapping: `str` string, `int` long, `bool` boolean, `bytes` bytes, `Money` decimal(18, 4) on
bytes, `UtcDatetime` timestamp-micros, `date` date, a `StrEnum` an enum of its values, a nested
contract a record, `list[X]` an array, `dict[str, X]` a map, and `X | None` a union with null.

Defaults: an `X | None` field defaults to null; other defaults are carried into the schema,
except on Money, UtcDatetime, date and bytes, which are refused (see `_avro_default`).
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic.fields import FieldInfo

from omnichannel.contracts.common import MONEY_PRECISION, MONEY_SCALE, Contract, Money, UtcDatetime

NAMESPACE = "com.retailer.integration"

DECIMAL_SCHEMA: dict[str, Any] = {
    "type": "bytes",
    "logicalType": "decimal",
    "precision": MONEY_PRECISION,
    "scale": MONEY_SCALE,
}
TIMESTAMP_SCHEMA: dict[str, Any] = {"type": "long", "logicalType": "timestamp-micros"}
DATE_SCHEMA: dict[str, Any] = {"type": "int", "logicalType": "date"}

_PRIMITIVES: dict[object, str] = {str: "string", int: "long", bool: "boolean", bytes: "bytes"}
_AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MONEY_MARKS = typing.get_args(Money)[1:]
_UTC_MARKS = typing.get_args(UtcDatetime)[1:]


class _Unsupported(Exception):
    """An annotation with no Avro mapping; turned into a TypeError naming model and field."""


def avro_schema(model: type[Contract]) -> dict[str, Any]:
    """Return the Avro record schema of a contract model, as a JSON-able dict.

    The output is deterministic: fields in model order, each named type defined at its first
    use and referred to by its full name after that.

    Raises:
        TypeError: a field's annotation has no Avro mapping; the message names model and field.
    """
    builder = _SchemaBuilder()
    builder.define(model)
    return builder.record_definition(model, top_level=True)


def first_paragraph(doc: str | None) -> str | None:
    """Return a docstring's first paragraph on one line, or None when there is no docstring."""
    if not doc:
        return None
    paragraph = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return " ".join(paragraph.split()) or None


class _SchemaBuilder:
    """Builds one top-level schema, remembering the named types it has already defined."""

    def __init__(self) -> None:
        self._defined: dict[str, type] = {}

    def record(self, model: type[Contract]) -> dict[str, Any] | str:
        reference = self.define(model)
        return reference if reference is not None else self.record_definition(model)

    def record_definition(
        self, model: type[Contract], *, top_level: bool = False
    ) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "record", "name": model.__name__}
        if top_level:
            schema["namespace"] = NAMESPACE
        _add_doc(schema, first_paragraph(model.__dict__.get("__doc__")))
        schema["fields"] = [
            self._field(model, name, info) for name, info in model.model_fields.items()
        ]
        return schema

    def _field(self, model: type[Contract], name: str, info: FieldInfo) -> dict[str, Any]:
        annotation: Any = info.annotation
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        try:
            avro_type = self._type(annotation, default_first=default is not None)
            field: dict[str, Any] = {"name": name, "type": avro_type}
            _add_doc(field, info.description)
            if isinstance(avro_type, list) and avro_type[0] == "null":
                field["default"] = None
            elif not info.is_required():
                field["default"] = _avro_default(default)
        except _Unsupported as exc:
            raise TypeError(
                f"{model.__name__}.{name}: no Avro mapping for {annotation!r} ({exc})"
            ) from None
        return field

    def _type(self, annotation: Any, *, default_first: bool = False) -> Any:
        """Map one annotation; `default_first` puts a union's non-null branch first."""
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            base, *marks = typing.get_args(annotation)
            return self._annotated(base, marks, default_first)
        if origin is types.UnionType or origin is typing.Union:
            return self._optional(typing.get_args(annotation), default_first)
        if origin is list:
            (items,) = typing.get_args(annotation)
            return {"type": "array", "items": self._type(items)}
        if origin is dict:
            keys, values = typing.get_args(annotation)
            if keys is not str:
                raise _Unsupported("Avro map keys are strings")
            return {"type": "map", "values": self._type(values)}
        if annotation in _PRIMITIVES:
            return _PRIMITIVES[annotation]
        if annotation is date:
            return dict(DATE_SCHEMA)
        if annotation is Decimal:
            raise _Unsupported("use Money for amounts")
        if annotation is datetime:
            raise _Unsupported("use UtcDatetime for timestamps")
        if isinstance(annotation, type) and issubclass(annotation, StrEnum):
            return self._enum(annotation)
        if isinstance(annotation, type) and issubclass(annotation, Contract):
            return self.record(annotation)
        raise _Unsupported("not a supported contract field type")

    def _annotated(self, base: Any, marks: list[object], default_first: bool) -> Any:
        if base is Decimal:
            if not any(mark in marks for mark in _MONEY_MARKS):
                raise _Unsupported("use Money for amounts")
            return dict(DECIMAL_SCHEMA)
        if base is datetime:
            if not any(mark in marks for mark in _UTC_MARKS):
                raise _Unsupported("use UtcDatetime for timestamps")
            return dict(TIMESTAMP_SCHEMA)
        return self._type(base, default_first=default_first)

    def _optional(self, members: tuple[Any, ...], default_first: bool) -> list[Any]:
        present = [member for member in members if member is not types.NoneType]
        if len(present) != 1 or len(members) != 2:
            raise _Unsupported("only `X | None` unions are supported")
        branch = self._type(present[0])
        return [branch, "null"] if default_first else ["null", branch]

    def _enum(self, enum: type[StrEnum]) -> dict[str, Any] | str:
        reference = self.define(enum)
        if reference is not None:
            return reference
        symbols = [member.value for member in enum]
        bad = [symbol for symbol in symbols if not _AVRO_NAME.match(symbol)]
        if bad:
            raise _Unsupported(f"enum values {bad} are not valid Avro symbols")
        schema: dict[str, Any] = {"type": "enum", "name": enum.__name__}
        _add_doc(schema, first_paragraph(enum.__dict__.get("__doc__")))
        schema["symbols"] = symbols
        return schema

    def define(self, named: type) -> str | None:
        """Register a named type; return its full name if it is already defined."""
        known = self._defined.get(named.__name__)
        if known is named:
            return f"{NAMESPACE}.{named.__name__}"
        if known is not None:
            raise _Unsupported(f"two different types are named {named.__name__}")
        self._defined[named.__name__] = named
        return None


def _add_doc(schema: dict[str, Any], doc: str | None) -> None:
    if doc:
        schema["doc"] = doc


def _avro_default(value: object) -> Any:
    """Return a Python default value in Avro's JSON form of it.

    Defaults of logical types and bytes are refused: Avro readers (fastavro among them) hand
    a default back in its JSON form, unconverted, so a reader would get text where the model
    expects a Decimal, a datetime or bytes.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal | bytes | date):
        raise _Unsupported(
            f"default {value!r}: Avro readers return defaults of logical types and bytes "
            "unconverted; make the field `X | None = None` instead"
        )
    if isinstance(value, Contract):
        return {name: _avro_default(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, Mapping):
        return {str(key): _avro_default(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_avro_default(item) for item in value]
    raise _Unsupported(f"default {value!r} has no Avro form")
