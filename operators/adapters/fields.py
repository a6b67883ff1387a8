"""Checks and conversions every adapter applies to payload fields: JSON, money, time, stock.

Canonical events are built with `canonical`: the adapter has checked every value already, so
pydantic's validation is skipped, except where an amount could still break Money's bounds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from omnichannel.contracts.common import (
    MONEY_PRECISION,
    MONEY_SCALE,
    Channel,
    Contract,
    field_layout,
    trusted,
)
from omnichannel.contracts.exception_record import ExceptionReason
from omnichannel.reference import ReferenceData
from operators.adapters.raw import Refused

PayloadT = TypeVar("PayloadT", bound=BaseModel)
C = TypeVar("C", bound=Contract)

# What json.loads(text, parse_float=Decimal) builds for every call, built once.
_JSON = json.JSONDecoder(parse_float=Decimal)
_IMPLAUSIBLE = Decimal(10) ** 13
# Money's validator refuses an amount from this size on (18 digits, 4 of them places).
_MONEY_LIMIT = Decimal(10) ** (MONEY_PRECISION - MONEY_SCALE)
# Amounts and timestamps repeat (prices, the second of an event): each text is parsed once,
# up to this many; the values are immutable, so sharing them is safe.
_CACHE_SIZE = 1 << 16
_amounts: dict[tuple[str, int | None, bool], Decimal] = {}
_timestamps: dict[str, datetime] = {}


class Payload(BaseModel):
    """Base of the channels' payload shapes: strict types, extra fields ignored."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")


def decode_json_object(value: bytes, max_bytes: int) -> dict[str, Any]:
    """The record's value as a JSON object; numbers with a fraction become Decimal, never float."""
    if len(value) > max_bytes:
        raise Refused(
            ExceptionReason.PAYLOAD_TOO_LARGE,
            f"payload is {len(value)} bytes, more than the limit of {max_bytes}",
        )
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(ExceptionReason.NOT_UTF8, f"payload is not UTF-8: {exc}") from None
    try:
        if text.startswith("\ufeff"):
            # What json.loads says of it (its decoder alone would say something else).
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        document = _JSON.decode(text)
    except json.JSONDecodeError as exc:
        raise Refused(ExceptionReason.MALFORMED_JSON, f"payload is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise Refused(
            ExceptionReason.INVALID_PAYLOAD,
            f"payload must be a JSON object, got {type(document).__name__}",
        )
    return document


def validate_payload(model: type[PayloadT], document: dict[str, Any]) -> PayloadT:
    """The document in the channel's shape, or a refusal naming the first wrong field."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        raise Refused(
            ExceptionReason.INVALID_PAYLOAD,
            f"{where}: {first['msg']} (got {_short(first.get('input'))})",
        ) from None


def money(text: str, field: str, exponent: int | None = 4, *, signed: bool = False) -> Decimal:
    """A decimal string as an exact amount with no more places than the currency allows."""
    key = (text, exponent, signed)
    amount = _amounts.get(key)
    if amount is None:
        amount = _money(text, field, exponent, signed)
        if len(_amounts) >= _CACHE_SIZE:
            _amounts.clear()
        _amounts[key] = amount
    return amount


def _money(text: str, field: str, exponent: int | None, signed: bool) -> Decimal:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise Refused(
            ExceptionReason.INVALID_AMOUNT, f"{field}: {text!r} is not a decimal"
        ) from None
    if not amount.is_finite():
        raise Refused(ExceptionReason.INVALID_AMOUNT, f"{field}: {text!r} is not a finite amount")
    if not signed and amount < 0:
        raise Refused(ExceptionReason.INVALID_AMOUNT, f"{field}: {text} must not be negative")
    places = -int(amount.as_tuple().exponent)
    if exponent is not None and places > exponent:
        raise Refused(
            ExceptionReason.INVALID_AMOUNT,
            f"{field}: {text} has {places} decimal places, the currency allows {exponent}",
        )
    if abs(amount) >= _IMPLAUSIBLE:
        raise Refused(ExceptionReason.INVALID_AMOUNT, f"{field}: {text} is implausibly large")
    return amount


def timestamp(text: str, field: str) -> datetime:
    """An ISO-8601 timestamp with its offset, in UTC; a timestamp without a zone is refused."""
    moment = _timestamps.get(text)
    if moment is None:
        moment = _timestamp(text, field)
        if len(_timestamps) >= _CACHE_SIZE:
            _timestamps.clear()
        _timestamps[text] = moment
    return moment


def _timestamp(text: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Refused(
            ExceptionReason.INVALID_PAYLOAD, f"{field}: {text!r} is not an ISO-8601 timestamp"
        ) from None
    if parsed.tzinfo is None:
        raise Refused(ExceptionReason.INVALID_PAYLOAD, f"{field}: {text!r} has no timezone")
    return parsed.astimezone(UTC)


def quantity(value: int, field: str, reference: ReferenceData, *, allow_zero: bool = False) -> int:
    """A positive unit count within the configured maximum."""
    lowest = 0 if allow_zero else 1
    if not lowest <= value <= reference.limits.max_quantity:
        raise Refused(
            ExceptionReason.INVALID_QUANTITY,
            f"{field}: {value} is outside {lowest}..{reference.limits.max_quantity}",
        )
    return value


def known_sku(sku: str, field: str, reference: ReferenceData) -> str:
    if not reference.is_known_sku(sku):
        raise Refused(ExceptionReason.UNKNOWN_SKU, f"{field}: SKU {sku!r} is not in the catalog")
    return sku


def selling_location(code: str, field: str, channel: Channel, reference: ReferenceData) -> str:
    """A location that exists and that the channel may sell from."""
    location = reference.locations.get(code)
    if location is None:
        raise Refused(ExceptionReason.UNKNOWN_LOCATION, f"{field}: location {code!r} is unknown")
    if channel not in location.channels:
        raise Refused(
            ExceptionReason.UNKNOWN_LOCATION,
            f"{field}: location {code!r} does not serve channel {channel}",
        )
    return code


def stock_location(code: str, field: str, reference: ReferenceData) -> str:
    if code not in reference.locations:
        raise Refused(ExceptionReason.UNKNOWN_LOCATION, f"{field}: location {code!r} is unknown")
    return code


def channel_currency(currency: str, field: str, channel: Channel, reference: ReferenceData) -> int:
    """The minor-unit exponent of a currency the channel may trade in."""
    exponent = reference.currency_exponent(currency)
    if exponent is None:
        raise Refused(
            ExceptionReason.UNKNOWN_CURRENCY, f"{field}: currency {currency!r} is unknown"
        )
    if not reference.accepts_currency(channel, currency):
        raise Refused(
            ExceptionReason.CURRENCY_NOT_ACCEPTED,
            f"{field}: channel {channel} does not accept {currency}",
        )
    return exponent


def require_equal(stated: Decimal, computed: Decimal, what: str) -> None:
    """The channel's stated total must equal what its parts add up to, to the cent."""
    if stated != computed:
        raise Refused(
            ExceptionReason.TOTALS_MISMATCH,
            f"{what} is {stated} but its parts add up to {computed}",
        )


def canonical(model: type[C], values: dict[str, Any], exact: bool = True) -> C:
    """The canonical instance of values the adapter has checked, without validating them again.

    `values` holds every field of the model in its field order; `exact` says that every amount
    among them has at most four places (it was read by `money` with a currency of at most four
    decimals, or computed from such amounts by sums, products with unit counts and quantizing).
    Then Money's bounds are all validation could still refuse, and they are checked here; if
    one is broken (or `exact` is false), pydantic validates the values and refuses them with
    the error it always gave.
    """
    count, money_fields = field_layout(model)
    if exact and len(values) == count:
        for name in money_fields:
            amount = values[name]
            if amount is not None and not -_MONEY_LIMIT < amount < _MONEY_LIMIT:
                break
        else:
            return trusted(model, values)
    return model(**values)


def per_unit(amount: Decimal, units: int) -> Decimal:
    """A line amount per unit, to four places (informational; the line amount is the truth)."""
    return (amount / units).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
