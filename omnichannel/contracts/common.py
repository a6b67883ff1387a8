"""Types every contract shares: channels, money, timestamps, where a record came from."""

from __future__ import annotations

import typing
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# Every amount is an exact decimal, carried in Avro as `decimal(18, 4)`: four places cover
# every ISO 4217 currency's minor unit; eighteen digits cover any order a retailer takes.
MONEY_PRECISION = 18
MONEY_SCALE = 4


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value  # what astimezone(UTC) gives back for it, without asking its offset
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a timezone")
    return value.astimezone(UTC)


def _exact_money(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("amount must be a finite decimal")
    if -value.as_tuple().exponent > MONEY_SCALE:  # type: ignore[operator]
        raise ValueError(f"amount {value} has more than {MONEY_SCALE} decimal places")
    if value.adjusted() >= MONEY_PRECISION - MONEY_SCALE:
        raise ValueError(f"amount {value} is too large")
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_aware_utc)]
Money = Annotated[Decimal, AfterValidator(_exact_money)]


class Contract(BaseModel):
    """Base of every Avro-mirrored record: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as (class, field values, fields set): pydantic's own pickling goes through
        # a Python __getstate__/__setstate__ pair per instance, the larger part of what a
        # snapshot holding contracts costs. Pickles of that older form still load.
        return _unpickle, (type(self), self.__dict__, self.__pydantic_fields_set__)


C = TypeVar("C", bound=Contract)
_set = object.__setattr__
_new = object.__new__
# Pydantic's own slots, set through their descriptors: half the cost of `object.__setattr__`
# by name, on the path every instance built here takes.
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
_layouts: dict[type[Contract], tuple[int, tuple[str, ...]]] = {}
_all_fields: dict[type[Contract], set[str]] = {}
_checks: dict[type[Contract], tuple[int, tuple[str, ...], tuple[str, ...]]] = {}


def trusted(model: type[C], values: dict[str, Any]) -> C:
    """An instance of `model` from values known to pass its validation, not validated again.

    `values` must hold every field of the model, in the model's field order, each of the type
    validation would have given it (members of enums, instances of nested contracts, aware
    datetimes, Decimals within Money's bounds). It is what pydantic's `model_construct` does,
    without its loop over the fields: for the hot path, where a reader or an adapter has
    already checked every value. Equal to the validated instance; its fields set are all.
    """
    instance = _new(model)
    _set(instance, "__dict__", values)
    _set_fields_set(instance, _all_fields.get(model) or _every_field(model))
    _set_extra(instance, None)
    _set_private(instance, None)
    return instance


def _every_field(model: type[Contract]) -> set[str]:
    """The one set of all field names that the instances built here share: one object less per
    instance for the collector. Pydantic copies it before changing one (`model_copy`), and a
    frozen contract has nothing else that would."""
    names = _all_fields.get(model)
    if names is None:
        names = _all_fields[model] = set(model.model_fields)
    return names


def checked(model: type[C], values: dict[str, Any]) -> C:
    """An instance of `model` whose Money and UtcDatetime fields are validated here, by the
    validators pydantic would run on them, and the rest trusted.

    `values` holds every field of the model in its field order; every value but Money and
    UtcDatetime ones must be of its field's type already (str, int, enum members, nested
    instances, lists of them). When a validator refuses a value, the whole model goes through
    pydantic, which raises the error it always raised.
    """
    layout = _checks.get(model)
    if layout is None:
        count, money = field_layout(model)
        times = tuple(
            name for name, info in model.model_fields.items() if _has_mark(info, _aware_utc)
        )
        layout = _checks[model] = (count, money, times)
    count, money, times = layout
    if len(values) == count:
        try:
            for name in money:
                if values[name] is not None:
                    _exact_money(values[name])
            for name in times:
                if values[name] is not None:
                    values[name] = _aware_utc(values[name])
        except (ValueError, TypeError, AttributeError):
            pass
        else:
            return trusted(model, values)
    return model(**values)


def field_layout(model: type[Contract]) -> tuple[int, tuple[str, ...]]:
    """How many fields the model has, and the names of its Money (or Money | None) fields."""
    layout = _layouts.get(model)
    if layout is None:
        fields = model.model_fields
        money = tuple(name for name, info in fields.items() if _has_mark(info, _exact_money))
        layout = _layouts[model] = (len(fields), money)
    return layout


def _has_mark(info: Any, validator: Any) -> bool:
    """Whether a field (or the non-null member of its union) is validated by `validator`."""
    members = typing.get_args(info.annotation)
    marks = [*info.metadata, *(m for a in members for m in getattr(a, "__metadata__", ()))]
    return any(getattr(mark, "func", None) is validator for mark in marks)


def _unpickle(model: type[C], values: dict[str, Any], fields_set: set[str]) -> C:
    instance = trusted(model, values)
    _set(instance, "__pydantic_fields_set__", fields_set)
    return instance


class Channel(StrEnum):
    """A sales channel of the retailer."""

    WEB = "web"
    POS = "pos"
    MARKETPLACE = "marketplace"


class SourceCoordinates(Contract):
    """Where an input record was read: enough to find it again and to replay it."""

    topic: str = Field(description="Kafka topic (or replay file stem) the record was read from.")
    partition: int = Field(description="Partition of the topic; 0 for a replay file.")
    offset: int = Field(description="Offset in the partition; the line number in a replay file.")
    key: str | None = Field(default=None, description="The record's key, decoded as UTF-8.")
    timestamp: UtcDatetime | None = Field(
        default=None, description="The record's Kafka timestamp, when it had one."
    )
