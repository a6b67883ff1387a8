"""Types every contract shares: channels, money, timestamps, where a record came from."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# Every amount is an exact decimal, carried in Avro as `decimal(18, 4)`: four places cover
# every ISO 4217 currency's minor unit; eighteen digits cover any order a retailer takes.
MONEY_PRECISION = 18
MONEY_SCALE = 4


def _aware_utc(value: datetime) -> datetime:
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
