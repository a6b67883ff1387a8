"""Posting rules: balanced journal entries for invoices, credit memos and settlements.

Pure functions from what an order sold (its terms) and what happened to it (a shipment, a sale,
a refund, a return, a void) to a `JournalEntry`, with the accounts from the chart of accounts.
Every entry balances in its currency by construction, and `balanced` checks it again. The
idempotency key is derived only from the source events: the same events always give the same
key, so a re-run can never post an entry twice under two keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from omnichannel.contracts.common import Channel, checked
from omnichannel.contracts.journal import JournalEntry, JournalEntryType, JournalLine
from omnichannel.contracts.settlement import Settlement
from omnichannel.reference import Account, ReferenceData

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Amounts:
    """What a document is worth: net per line, tax per ERP tax code, shipping and discount."""

    net: Decimal
    tax: tuple[tuple[str, Decimal], ...]  # (ERP tax code, amount)
    shipping: Decimal = ZERO
    discount: Decimal = ZERO

    @property
    def gross(self) -> Decimal:
        return (
            self.net + sum((amount for _, amount in self.tax), ZERO) + self.shipping - self.discount
        )


@dataclass(frozen=True, slots=True)
class Posting:
    """The facts an entry is made of: who, which document, when, and the source events."""

    channel: Channel
    order_id: str | None
    document_id: str
    correlation_id: str
    currency: str
    event_time: datetime
    source_event_ids: tuple[str, ...]


def idempotency_key(kind: str, posting: Posting) -> str:
    """`<kind>:<channel>:<document>`: one per source document, whatever re-delivers it."""
    order = f"{posting.order_id}:" if posting.order_id else ""
    return f"{kind}:{posting.channel}:{order}{posting.document_id}"


def invoice(
    posting: Posting, amounts: Amounts, debtor: Account, ref: ReferenceData
) -> JournalEntry:
    """Dr the customer (receivable, tender clearing or marketplace); Cr revenue, tax, shipping;
    Dr discounts as contra-revenue."""
    accounts = ref.accounts
    lines = [_line(debtor, "debtor", debit=amounts.gross, memo="amount due")]
    lines.append(_line(accounts.revenue, "revenue", credit=amounts.net, memo="goods"))
    lines.extend(_tax_line(ref, code, credit=amount) for code, amount in amounts.tax)
    if amounts.shipping:
        lines.append(_line(accounts.shipping_revenue, "shipping_revenue", credit=amounts.shipping))
    if amounts.discount:
        lines.append(_line(accounts.discounts, "discounts", debit=amounts.discount))
    return _entry(JournalEntryType.INVOICE, "invoice", posting, lines)


def credit_memo(
    posting: Posting, amounts: Amounts, creditor: Account, ref: ReferenceData, kind: str = "credit"
) -> JournalEntry:
    """Dr returns (contra-revenue), tax and shipping given back; Cr the customer."""
    accounts = ref.accounts
    lines = [_line(accounts.returns, "returns", debit=amounts.net, memo="goods returned")]
    lines.extend(_tax_line(ref, code, debit=amount) for code, amount in amounts.tax)
    if amounts.shipping:
        lines.append(_line(accounts.shipping_revenue, "shipping_revenue", debit=amounts.shipping))
    if amounts.discount:
        lines.append(_line(accounts.discounts, "discounts", credit=amounts.discount))
    lines.append(_line(creditor, "creditor", credit=amounts.gross, memo="amount refunded"))
    return _entry(JournalEntryType.CREDIT_MEMO, kind, posting, lines)


def reversal(original: JournalEntry, posting: Posting) -> JournalEntry:
    """The original entry with debits and credits swapped: a void, as if it never happened."""
    kind = (
        JournalEntryType.CREDIT_MEMO
        if original.entry_type is JournalEntryType.INVOICE
        else JournalEntryType.INVOICE
    )
    lines = [
        line.model_copy(update={"debit": line.credit, "credit": line.debit, "memo": "void"})
        for line in original.lines
    ]
    return _entry(kind, "void", posting, lines)


# Settlement components that clear what the marketplace owes for sales; the rest are its fees.
PROCEEDS = frozenset({"principal", "tax", "shipping", "promotion"})


def settlement_entry(settlement: Settlement, ref: ReferenceData) -> JournalEntry:
    """Payout to the bank; commission and fees expensed; the marketplace receivable cleared."""
    accounts = ref.accounts
    totals: dict[tuple[str, str], Decimal] = {}
    for row in settlement.rows:
        for part in row.amounts:
            if part.component in PROCEEDS:
                role = ("marketplace_receivable", accounts.marketplace_receivable.number)
            elif part.component == "commission":
                role = ("marketplace_commission", accounts.marketplace_commission.number)
            else:
                role = ("marketplace_fees", accounts.marketplace_fees.number)
            totals[role] = totals.get(role, ZERO) + part.amount
    lines = [_signed(accounts.bank.number, "bank", settlement.deposit, memo="payout")]
    # A positive proceeds amount clears receivable (credit); a negative fee is an expense (debit).
    lines.extend(
        _signed(number, role, -amount) for (role, number), amount in sorted(totals.items())
    )
    posting = Posting(
        channel=Channel.MARKETPLACE,
        order_id=None,
        document_id=settlement.settlement_id,
        correlation_id=settlement.correlation_id,
        currency=settlement.currency,
        event_time=settlement.period_end,
        source_event_ids=(f"settlement:{settlement.settlement_id}",),
    )
    return _entry(JournalEntryType.MARKETPLACE_SETTLEMENT, "settlement", posting, lines)


def balanced(entry: JournalEntry) -> bool:
    """Total debits equal total credits, and every line is one or the other, never negative."""
    debits = sum((line.debit for line in entry.lines), ZERO)
    credits = sum((line.credit for line in entry.lines), ZERO)
    return debits == credits and all(
        line.debit >= 0 and line.credit >= 0 and (line.debit == 0 or line.credit == 0)
        for line in entry.lines
    )


def prorate(total: Decimal, part: int, whole: int, exponent: int) -> Decimal:
    """`total * part / whole`, to the currency's cent (half up)."""
    cent = Decimal(1).scaleb(-exponent)
    return (total * part / whole).quantize(cent, rounding=ROUND_HALF_UP)


def _entry(
    entry_type: JournalEntryType, kind: str, posting: Posting, lines: Iterable[JournalLine]
) -> JournalEntry:
    kept = [line for line in lines if line.debit or line.credit]
    entry = checked(JournalEntry, {
        "idempotency_key": idempotency_key(kind, posting),
        "entry_type": entry_type,
        "channel": posting.channel,
        "order_id": posting.order_id,
        "document_id": posting.document_id,
        "posting_date": posting.event_time.date(),
        "event_time": posting.event_time,
        "currency": posting.currency,
        "lines": kept,
        "source_event_ids": list(posting.source_event_ids),
        "correlation_id": posting.correlation_id,
    })  # fmt: skip
    if not balanced(entry):
        raise ValueError(f"{entry.idempotency_key}: debits and credits differ: {kept}")
    return entry


def _line(
    account: Account,
    role: str,
    debit: Decimal = ZERO,
    credit: Decimal = ZERO,
    memo: str | None = None,
    tax_code: str | None = None,
) -> JournalLine:
    if debit < 0 or credit < 0:
        # A negative amount on one side is a positive one on the other.
        debit, credit = max(debit, ZERO) + max(-credit, ZERO), max(credit, ZERO) + max(-debit, ZERO)
    return checked(JournalLine, {
        "account": account.number,
        "account_role": role,
        "debit": debit,
        "credit": credit,
        "tax_code": tax_code,
        "memo": memo,
    })  # fmt: skip


def _tax_line(
    ref: ReferenceData, erp_code: str, debit: Decimal = ZERO, credit: Decimal = ZERO
) -> JournalLine:
    return _line(_tax_account(ref, erp_code), "tax_payable", debit, credit, memo="tax",
                 tax_code=erp_code)  # fmt: skip


# The tax account of each ERP tax code, per reference data: looked up once, not per line.
_tax_accounts: dict[int, tuple[ReferenceData, dict[str, Account]]] = {}


def _tax_account(ref: ReferenceData, erp_code: str) -> Account:
    known = _tax_accounts.get(id(ref))
    if known is None or known[0] is not ref:
        # The reference data is kept with its accounts, so that its id is never reused.
        known = _tax_accounts[id(ref)] = (ref, {})
    account = known[1].get(erp_code)
    if account is None:
        account = next(
            (
                Account(number=t.account, name=t.erp_code)
                for t in ref.tax_codes.values()
                if t.erp_code == erp_code
            ),
            None,
        )
        if account is None:
            raise ValueError(f"no tax account for ERP tax code {erp_code}")
        known[1][erp_code] = account
    return account


def _signed(number: str, role: str, amount: Decimal, memo: str | None = None) -> JournalLine:
    """Debit a positive amount, credit a negative one."""
    return checked(JournalLine, {
        "account": number,
        "account_role": role,
        "debit": max(amount, ZERO),
        "credit": max(-amount, ZERO),
        "tax_code": None,
        "memo": memo,
    })  # fmt: skip
