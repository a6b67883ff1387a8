"""A record the flows could not process, kept whole with the reason, for repair and replay."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from omnichannel.contracts.common import Contract, SourceCoordinates, UtcDatetime


class ExceptionReason(StrEnum):
    """Why a record could not be processed."""

    PAYLOAD_TOO_LARGE = "payload_too_large"
    NOT_UTF8 = "not_utf8"
    MALFORMED_JSON = "malformed_json"
    INVALID_PAYLOAD = "invalid_payload"
    UNKNOWN_SKU = "unknown_sku"
    UNKNOWN_EAN = "unknown_ean"
    UNKNOWN_LOCATION = "unknown_location"
    UNKNOWN_TAX_CODE = "unknown_tax_code"
    UNKNOWN_CURRENCY = "unknown_currency"
    CURRENCY_NOT_ACCEPTED = "currency_not_accepted"
    INVALID_QUANTITY = "invalid_quantity"
    INVALID_AMOUNT = "invalid_amount"
    TOTALS_MISMATCH = "totals_mismatch"
    SETTLEMENT_UNBALANCED = "settlement_unbalanced"
    CONFLICTING_RESUBMISSION = "conflicting_resubmission"
    OUT_OF_ORDER = "out_of_order"
    ADAPTER_FAILURE = "adapter_failure"


class ExceptionRecord(Contract):
    """An unprocessable input record: its raw bytes, why it failed, and where it came from."""

    exception_id: str = Field(description="Deterministic: derived from the source coordinates.")
    reason: ExceptionReason = Field(description="Why the record could not be processed.")
    message: str = Field(description="What exactly was wrong, naming the field.")
    raw_key: bytes | None = Field(default=None, description="The record's key bytes, as read.")
    raw_value: bytes = Field(description="The record's value bytes, exactly as read.")
    source: SourceCoordinates = Field(description="Where the raw record was read.")
    step: str = Field(description="The flow step that refused it.")
    detected_at: UtcDatetime = Field(description="When it was refused, in UTC.")
    replay_count: int = Field(default=0, description="How often it was replayed already.")
