"""Reference data: the catalog, locations, channel policies, tax codes, currencies and accounts.

One TOML file (the default, `omnichannel/data/reference.toml`, documents every setting) is
loaded and checked at start-up. A bad entry fails with its dotted path, so an operator knows
which line of the ConfigMap to fix. Lookups are the questions adapters ask of an event: is this
SKU, EAN, location, tax code, currency known here?
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator

from omnichannel.contracts.common import Channel
from omnichannel.settings import SettingError

DEFAULT_REFERENCE_FILE = Path(__file__).parent / "data" / "reference.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LocationKind(StrEnum):
    DC = "DC"
    STORE = "STORE"


class Location(_Strict):
    kind: LocationKind
    region: str
    channels: frozenset[Channel]


class ChannelPolicy(_Strict):
    safety_stock: int = Field(ge=0)
    buffer: int = Field(ge=0)
    allocation_share: Decimal = Field(gt=0, le=1)
    per_location: bool
    currencies: frozenset[str] = Field(min_length=1)


class TaxCode(_Strict):
    erp_code: str
    account: str
    rate: Decimal | None = Field(default=None, ge=0, lt=1)


class Account(_Strict):
    number: str
    name: str


class ChartOfAccounts(_Strict):
    bank: Account
    cash_clearing: Account
    card_clearing: Account
    receivable: Account
    marketplace_receivable: Account
    revenue: Account
    shipping_revenue: Account
    discounts: Account
    returns: Account
    marketplace_commission: Account
    marketplace_fees: Account


class Catalog(_Strict):
    sku_prefix: str = "SKU-"
    first: int = Field(default=0, ge=0)
    count: int = Field(default=0, ge=0)
    skus: frozenset[str] = frozenset()
    eans: dict[str, str] = Field(default_factory=dict)

    def generated_sku(self, n: int) -> str:
        return f"{self.sku_prefix}{n}"

    @field_validator("eans")
    @classmethod
    def _ean_shape(cls, eans: dict[str, str]) -> dict[str, str]:
        for ean in eans:
            if not (ean.isdigit() and len(ean) in (8, 12, 13, 14)):
                raise ValueError(f"{ean!r} is not an EAN/GTIN (8, 12, 13 or 14 digits)")
        return eans


# Kafka's default largest record batch (the broker's `message.max.bytes`): what a topic of
# default settings can carry. A marketplace settlement report of ~7,000 rows fits in it.
KAFKA_DEFAULT_MESSAGE_BYTES = 1_048_588


class Limits(_Strict):
    """What one input record may hold; larger payloads are refused unparsed."""

    max_payload_bytes: int = Field(default=KAFKA_DEFAULT_MESSAGE_BYTES, gt=0)
    # Per input topic, by its name (after any TOPIC_<NAME> renaming), over the default.
    max_payload_bytes_per_topic: dict[str, PositiveInt] = Field(default_factory=dict)
    max_quantity: int = Field(default=100000, gt=0)

    def payload_limit(self, topic: str) -> int:
        """The largest payload, in bytes, accepted from `topic`."""
        return self.max_payload_bytes_per_topic.get(topic, self.max_payload_bytes)


class ReferenceData(_Strict):
    """Everything an adapter or a flow needs to know about the retailer's world."""

    catalog: Catalog
    currencies: dict[str, int]
    locations: dict[str, Location]
    channels: dict[Channel, ChannelPolicy]
    tax_codes: dict[str, TaxCode]
    accounts: ChartOfAccounts
    limits: Limits = Limits()

    def is_known_sku(self, sku: str) -> bool:
        if sku in self.catalog.skus:
            return True
        prefix = self.catalog.sku_prefix
        number = sku[len(prefix) :]
        if not sku.startswith(prefix) or not number.isdigit() or number != str(int(number)):
            return False
        return self.catalog.first <= int(number) < self.catalog.first + self.catalog.count

    def sku_for_ean(self, ean: str) -> str | None:
        """The SKU an EAN names: a mapped manufacturer EAN, or an in-store EAN of the range."""
        mapped = self.catalog.eans.get(ean)
        if mapped is not None:
            return mapped
        if len(ean) != 13 or not ean.isdigit() or not ean.startswith("20"):
            return None
        if ean_check_digit(ean[:12]) != ean[12]:
            return None
        sku = self.catalog.generated_sku(int(ean[2:12]))
        return sku if self.is_known_sku(sku) else None

    def in_store_ean(self, sku: str) -> str:
        """The in-store EAN-13 of a generated SKU (what the scenario's POS lines carry)."""
        number = int(sku[len(self.catalog.sku_prefix) :])
        body = f"20{number:010d}"
        return body + ean_check_digit(body)

    @property
    def all_skus(self) -> list[str]:
        generated = (
            self.catalog.generated_sku(n)
            for n in range(self.catalog.first, self.catalog.first + self.catalog.count)
        )
        return sorted(set(generated) | self.catalog.skus)

    def currency_exponent(self, currency: str) -> int | None:
        return self.currencies.get(currency)

    def accepts_currency(self, channel: Channel, currency: str) -> bool:
        return currency in self.channels[channel].currencies

    def locations_for(self, channel: Channel) -> list[str]:
        """Codes of the locations a channel may sell from, sorted."""
        return sorted(code for code, loc in self.locations.items() if channel in loc.channels)


def ean_check_digit(first_twelve: str) -> str:
    """The EAN-13 check digit of twelve digits (weights 1, 3, 1, 3, ... from the left)."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first_twelve))
    return str((10 - total % 10) % 10)


def reference_from_env() -> ReferenceData:
    """The reference data named by `REFERENCE_DATA`, or the bundled file when it is not set."""
    named = os.environ.get("REFERENCE_DATA")
    return load_reference(Path(named) if named else None)


def load_reference(path: Path | None = None) -> ReferenceData:
    """Read and check a reference data file; errors name the file and the bad entry."""
    source = path or DEFAULT_REFERENCE_FILE
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingError(f"reference data file {source} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingError(f"{source}: not valid TOML: {exc}") from None
    try:
        data = ReferenceData.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise SettingError(f"{source}: {where}: {first['msg']}") from None
    problems = _cross_check(data)
    if problems:
        raise SettingError(f"{source}: " + "; ".join(problems))
    return data


def _cross_check(data: ReferenceData) -> list[str]:
    """What each part says of the others must hold: channels, currencies, accounts, SKUs."""
    problems = []
    for channel in Channel:
        if channel not in data.channels:
            problems.append(f"channels.{channel}: missing policy for channel {channel}")
        elif not data.locations_for(channel):
            problems.append(f"locations: no location serves channel {channel}")
    for channel, policy in data.channels.items():
        for currency in sorted(policy.currencies - data.currencies.keys()):
            problems.append(f"channels.{channel}.currencies: {currency} is not in [currencies]")
    for code, exponent in data.currencies.items():
        if not 0 <= exponent <= 4:
            problems.append(f"currencies.{code}: exponent must be 0 to 4, got {exponent}")
    for ean, sku in data.catalog.eans.items():
        if not data.is_known_sku(sku):
            problems.append(f"catalog.eans.{ean}: {sku} is not in the catalog")
    return problems
