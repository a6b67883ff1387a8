"""The ERP posting: a balanced journal entry with its lines."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field

from omnichannel.contracts.common import Channel, Contract, Money, UtcDatetime


class JournalEntryType(StrEnum):
    """Why the entry is posted."""

    INVOICE = "invoice"
    CREDIT_MEMO = "credit_memo"
    MARKETPLACE_SETTLEMENT = "marketplace_settlement"


class JournalLine(Contract):
    """One debit or credit to one account; exactly one of the two is non-zero."""

    account: str = Field(description="The ERP account number, from the chart of accounts.")
    account_role: str = Field(description="The role of the account (revenue, receivable, ...).")
    debit: Money = Field(description="Debit amount, zero or positive.")
    credit: Money = Field(description="Credit amount, zero or positive.")
    tax_code: str | None = Field(default=None, description="The ERP tax code, on tax lines.")
    memo: str | None = Field(default=None, description="What the line is for.")


class JournalEntry(Contract):
    """A journal entry for the ERP whose debits equal its credits in its currency."""

    idempotency_key: str = Field(
        description="Derived only from the source events: the same entry always has the same key."
    )
    entry_type: JournalEntryType = Field(description="Why the entry is posted.")
    channel: Channel = Field(description="The channel whose trade it books.")
    order_id: str | None = Field(default=None, description="The channel order, if any.")
    document_id: str = Field(description="The source document (fulfilment, receipt, report).")
    posting_date: date = Field(description="The accounting date (the event's date in UTC).")
    event_time: UtcDatetime = Field(description="Event time of the newest source event.")
    currency: str = Field(description="ISO 4217 currency of every line.")
    lines: list[JournalLine] = Field(description="The debits and credits; they balance.")
    source_event_ids: list[str] = Field(description="The canonical events the entry is made of.")
    correlation_id: str = Field(description="Ties the entry to its channel order or report.")
