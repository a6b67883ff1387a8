"""One order's financial lifecycle: what it sold, what was invoiced and credited, what waits.

Events come in per order, in the order they arrive. Each is first checked for duplicates; then
it either moves the lifecycle (and posts), or, when its predecessor has not been seen (a
fulfilment before the order, a refund before the invoice, a void before its sale), waits in a
reorder buffer until the predecessor comes or the grace period of event time passes:

- web: the order sets the terms (prices, tax, shipping, discount); each fulfilment is invoiced
  (lines pro rata by quantity, the last one taking the remainder; shipping and discount on the
  first); each refund gets a credit memo once something was invoiced;
- POS: a sale is invoiced at once against tender clearing, a return credited at once, a void
  reverses its sale's invoice;
- marketplace: Shipped invoices the order to the marketplace receivable; the newest status
  wins, and a late, older status never undoes a posting.

A buffered event applied once its predecessor came is reported as an `out_of_order` anomaly
(resolution `reordered`); one still waiting after the grace leaves as an `out_of_order`
anomaly and, where finance cannot proceed, as an exception record. Besides the grace in event
time, an event waits at least `min_wait` of wall time: the flow takes events in batches grouped
by order, so the newest event time seen can run ahead of the events still to come by up to a
batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any

from omnichannel.contracts.anomaly import Anomaly, AnomalyType
from omnichannel.contracts.common import Channel, checked
from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.contracts.journal import JournalEntry, JournalEntryType
from omnichannel.contracts.order_event import OrderEvent, OrderEventType
from omnichannel.reference import Account, ReferenceData
from operators.finance.dedupe import DEFAULT_HORIZON, EventMemory, Verdict
from operators.finance.postings import (
    ZERO,
    Amounts,
    Posting,
    credit_memo,
    invoice,
    prorate,
    reversal,
)
from operators.finance.reconciliation import Measure

_E = OrderEventType
FinanceOutput = JournalEntry | Anomaly | ExceptionRecord | Measure
NO_CURRENCY = "XXX"
PARTIES = ("debtor", "creditor")
DEFAULT_GRACE = timedelta(hours=1)
DEFAULT_MIN_WAIT = timedelta(seconds=5)


@dataclass(frozen=True)
class FinanceSettings:
    """Reference data and the horizons of the finance flow."""

    reference: ReferenceData
    grace: timedelta = DEFAULT_GRACE
    dedupe_horizon: timedelta = DEFAULT_HORIZON
    min_wait: timedelta = DEFAULT_MIN_WAIT


@dataclass(slots=True)
class SoldLine:
    """One line of the order's terms, and how much of it was invoiced so far."""

    sku: str
    quantity: int
    net: Decimal
    tax: dict[str, Decimal]  # ERP tax code -> amount
    invoiced_quantity: int = 0
    invoiced_net: Decimal = ZERO
    invoiced_tax: dict[str, Decimal] = field(default_factory=dict)

    def copy(self) -> SoldLine:
        """An independent copy (amounts and codes are immutable; the dicts are new)."""
        return SoldLine(
            self.sku, self.quantity, self.net, dict(self.tax), self.invoiced_quantity,
            self.invoiced_net, dict(self.invoiced_tax),
        )  # fmt: skip

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by value: a slotted dataclass otherwise pickles through a Python
        # __getstate__ that looks its fields up on every call.
        return SoldLine, _SOLD_LINE_FIELDS(self)


@dataclass(slots=True)
class OrderLedger:
    """The finance state of one order."""

    memory: EventMemory = field(default_factory=EventMemory)
    currency: str | None = None
    terms_as_of: datetime | None = None
    lines: list[SoldLine] = field(default_factory=list)
    shipping: Decimal = ZERO
    discount: Decimal = ZERO
    extras_invoiced: bool = False
    cancelled: bool = False
    placed_measured: bool = False
    posted: dict[str, JournalEntry] = field(default_factory=dict)  # by idempotency key
    waiting: list[OrderEvent] = field(default_factory=list)
    waiting_since: list[datetime] = field(default_factory=list)  # wall clock, per waiting event

    def copy(self) -> OrderLedger:
        """An independent copy: what a snapshot holds. Entries and events are immutable."""
        return OrderLedger(
            self.memory.copy(), self.currency, self.terms_as_of,
            [line.copy() for line in self.lines], self.shipping, self.discount,
            self.extras_invoiced, self.cancelled, self.placed_measured, dict(self.posted),
            list(self.waiting), list(self.waiting_since),
        )  # fmt: skip

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by value: a slotted dataclass otherwise pickles through a Python
        # __getstate__ that looks its fields up on every call.
        return OrderLedger, _ORDER_LEDGER_FIELDS(self)

    def apply(
        self, event: OrderEvent, settings: FinanceSettings, now: datetime
    ) -> list[FinanceOutput]:
        """Check the event for duplicates, then move the lifecycle and post what follows."""
        verdict = self.memory.classify(event, settings.dedupe_horizon)
        if verdict is Verdict.DUPLICATE_EVENT:
            return [_anomaly(AnomalyType.DUPLICATE_EVENT, event, now, "re-delivered")]
        if verdict is Verdict.DUPLICATE_ORDER:
            return [_anomaly(AnomalyType.DUPLICATE_ORDER, event, now, "re-submitted, same content")]
        if verdict is Verdict.CONFLICTING_RESUBMISSION:
            return [
                _exception(
                    event,
                    ExceptionReason.CONFLICTING_RESUBMISSION,
                    f"{event.event_type} {event.document_id} re-submitted with different content",
                    now,
                )
            ]
        outputs: list[FinanceOutput] = []
        if event.event_type is _E.REFUNDED:
            outputs.append(self._measure(event, "refunded", event.totals.grand_total))
        outputs.extend(self._advance(event, settings, now, waited=False))
        return outputs + self._retry(settings, now)

    def expire(
        self, watermark: datetime, settings: FinanceSettings, now: datetime
    ) -> list[FinanceOutput]:
        """Let go of waiting events older than the grace behind `watermark` (event time)."""
        due, kept, since = [], [], []
        for event, buffered in zip(self.waiting, self.waiting_since, strict=True):
            late = event.event_time + settings.grace <= watermark
            if late and buffered + settings.min_wait <= now:
                due.append(event)
            else:
                kept.append(event)
                since.append(buffered)
        self.waiting, self.waiting_since = kept, since
        outputs: list[FinanceOutput] = []
        for event in due:
            outputs.append(_anomaly(AnomalyType.OUT_OF_ORDER, event, now, "expired", waited=True))
            if event.event_type is not _E.STORE_VOID:
                what = (
                    "shipped, not invoiced"
                    if event.event_type is _E.SHIPPED
                    else "refunded, not credited"
                )
                outputs.append(
                    _anomaly(AnomalyType.RECONCILIATION_GAP, event, now, what, waited=True)
                )
                outputs.append(self._measure(event, "gaps", count=1))
                missing = "the order" if event.event_type is _E.SHIPPED else "an invoice"
                outputs.append(
                    _exception(
                        event,
                        ExceptionReason.OUT_OF_ORDER,
                        f"{event.event_type} {event.document_id} came without {missing} "
                        f"within {settings.grace}: it cannot be posted",
                        now,
                    )
                )
        return outputs

    def _retry(self, settings: FinanceSettings, now: datetime) -> list[FinanceOutput]:
        outputs: list[FinanceOutput] = []
        progress = True
        while progress and self.waiting:
            progress = False
            for event in list(self.waiting):
                if self._ready(event):
                    del self.waiting_since[self.waiting.index(event)]
                    self.waiting.remove(event)
                    outputs.extend(self._advance(event, settings, now, waited=True))
                    progress = True
        return outputs

    def _ready(self, event: OrderEvent) -> bool:
        kind = event.event_type
        if kind is _E.SHIPPED and event.channel is Channel.WEB:
            return self.currency is not None and bool(self.lines)
        if kind is _E.REFUNDED:
            return self._invoiced()
        if kind is _E.STORE_VOID:
            return self._original() is not None
        return True

    def _advance(
        self, event: OrderEvent, settings: FinanceSettings, now: datetime, waited: bool
    ) -> list[FinanceOutput]:
        if not self._ready(event):
            self.waiting.append(event)
            self.waiting_since.append(now)
            return []
        outputs: list[FinanceOutput] = []
        if waited:
            outputs.append(_anomaly(AnomalyType.OUT_OF_ORDER, event, now, "reordered", waited=True))
        kind, ref = event.event_type, settings.reference
        if kind in (_E.PENDING, _E.PLACED, _E.CANCELLED) or (
            kind is _E.SHIPPED and event.channel is Channel.MARKETPLACE
        ):
            stale = self.terms_as_of is not None and event.event_time < self.terms_as_of
            if stale and event.channel is Channel.MARKETPLACE:
                outputs.append(_anomaly(AnomalyType.OUT_OF_ORDER, event, now, "stale_status"))
            if kind is _E.PLACED and not self.placed_measured:
                self.placed_measured = True
                outputs.append(self._measure(event, "ordered", event.totals.grand_total))
                outputs.append(self._measure(event, "orders", count=1))
            if not stale and not self._invoiced():
                self._set_terms(event)
            self.cancelled |= kind is _E.CANCELLED
            if kind is _E.SHIPPED:
                outputs.extend(self._invoice_all(event, ref, ref.accounts.marketplace_receivable))
        elif kind is _E.SHIPPED:
            outputs.extend(self._invoice_shipment(event, ref))
        elif kind is _E.STORE_SALE:
            self._set_terms(event)
            outputs.append(self._measure(event, "ordered", event.totals.grand_total))
            outputs.append(self._measure(event, "orders", count=1))
            outputs.extend(self._invoice_all(event, ref, _clearing(event, ref)))
        elif kind is _E.REFUNDED:
            outputs.extend(self._credit_refund(event, ref))
        elif kind is _E.STORE_RETURN:
            outputs.append(self._measure(event, "refunded", event.totals.grand_total))
            outputs.extend(
                self._post(
                    credit_memo(
                        _posting(event, event.currency or ""),
                        _amounts(event),
                        _clearing(event, ref),
                        ref,
                        "return",
                    )
                )
            )
        elif kind is _E.STORE_VOID:
            # Taken back at the till: reconciled as refunded, against the reversal's credit.
            outputs.append(self._measure(event, "refunded", event.totals.grand_total))
            outputs.extend(self._reverse_receipt(event))
        return outputs

    def _set_terms(self, event: OrderEvent) -> None:
        self.currency = event.currency
        self.terms_as_of = event.event_time
        self.lines = [
            SoldLine(
                line.sku,
                line.quantity,
                line.net_amount,
                {tax.tax_code: tax.amount for tax in line.taxes},
            )
            for line in event.lines
        ]
        self.shipping = event.totals.shipping_total
        self.discount = event.totals.discount_total

    def _invoice_all(
        self, event: OrderEvent, ref: ReferenceData, debtor: Account
    ) -> list[FinanceOutput]:
        shipped = [(line, line.quantity) for line in self.lines]
        return self._invoice(event, shipped, ref, debtor)

    def _invoice_shipment(self, event: OrderEvent, ref: ReferenceData) -> list[FinanceOutput]:
        shipped: list[tuple[SoldLine, int]] = []
        for line in event.lines:
            remaining = line.quantity
            for sold in self.lines:
                open_units = (
                    sold.quantity - sold.invoiced_quantity - sum(q for s, q in shipped if s is sold)
                )
                if sold.sku == line.sku and open_units > 0 and remaining > 0:
                    take = min(open_units, remaining)
                    shipped.append((sold, take))
                    remaining -= take
        return self._invoice(event, shipped, ref, ref.accounts.receivable)

    def _invoice(
        self,
        event: OrderEvent,
        shipped: list[tuple[SoldLine, int]],
        ref: ReferenceData,
        debtor: Account,
    ) -> list[FinanceOutput]:
        currency = self.currency or ""
        known = ref.currency_exponent(currency)
        # Terms always carry a channel's currency; the fallback only keeps cents for the unknown.
        exponent = 2 if known is None else known
        net = ZERO
        tax: dict[str, Decimal] = {}
        for sold, units in shipped:
            last = sold.invoiced_quantity + units == sold.quantity
            part = (
                sold.net - sold.invoiced_net
                if last
                else prorate(sold.net, units, sold.quantity, exponent)
            )
            net += part
            sold.invoiced_net += part
            for code, amount in sold.tax.items():
                done = sold.invoiced_tax.get(code, ZERO)
                share = amount - done if last else prorate(amount, units, sold.quantity, exponent)
                sold.invoiced_tax[code] = done + share
                tax[code] = tax.get(code, ZERO) + share
            sold.invoiced_quantity += units
        shipping = discount = ZERO
        if not self.extras_invoiced:
            shipping, discount, self.extras_invoiced = self.shipping, self.discount, True
        amounts = Amounts(net, tuple(sorted(tax.items())), shipping, discount)
        return self._post(invoice(_posting(event, currency), amounts, debtor, ref))

    def _credit_refund(self, event: OrderEvent, ref: ReferenceData) -> list[FinanceOutput]:
        currency = self.currency or ""
        tax: dict[str, Decimal] = {}
        for line in event.lines:
            codes = next((sold.tax for sold in self.lines if sold.sku == line.sku), {})
            code = max(codes, key=codes.__getitem__) if codes else None
            if code is None:
                continue
            tax[code] = tax.get(code, ZERO) + line.tax_amount
        net = sum((line.net_amount for line in event.lines), ZERO)
        amounts = Amounts(net, tuple(sorted(tax.items())), event.totals.shipping_total)
        return self._post(
            credit_memo(_posting(event, currency), amounts, ref.accounts.receivable, ref, "credit")
        )

    def _reverse_receipt(self, event: OrderEvent) -> list[FinanceOutput]:
        original = self._original()
        assert original is not None, "a void is applied only once its receipt was posted"
        return self._post(reversal(original, _posting(event, original.currency)))

    def _invoiced(self) -> bool:
        return any(key.startswith("invoice:") for key in self.posted)

    def _original(self) -> JournalEntry | None:
        """The entry a void would reverse: the receipt's own, not an earlier void."""
        return next((e for k, e in self.posted.items() if not k.startswith("void:")), None)

    def _post(self, entry: JournalEntry) -> list[FinanceOutput]:
        if entry.idempotency_key in self.posted:
            return []
        self.posted[entry.idempotency_key] = entry
        # What the customer (or the till) owes or is owed: a void swaps the sides, not the role.
        gross = sum(
            (line.debit + line.credit for line in entry.lines if line.account_role in PARTIES),
            ZERO,
        )
        if entry.entry_type is JournalEntryType.INVOICE:
            values: tuple[str, ...] = ("shipped", "invoiced")
            counted = "invoices"
        else:
            values, counted = ("credited",), "credit_memos"
        when, channel, currency = entry.event_time, entry.channel, entry.currency
        return [
            entry,
            *(Measure(channel, currency, when, what, gross) for what in values),
            Measure(channel, currency, when, counted, count=1),
        ]

    def _measure(
        self, event: OrderEvent, what: str, amount: Decimal = ZERO, count: int = 0
    ) -> Measure:
        currency = event.currency or self.currency or NO_CURRENCY
        return Measure(event.channel, currency, event.event_time, what, amount, count)


def _posting(event: OrderEvent, currency: str) -> Posting:
    return Posting(
        channel=event.channel,
        order_id=event.order_id,
        document_id=event.document_id,
        correlation_id=event.correlation_id,
        currency=currency,
        event_time=event.event_time,
        source_event_ids=(event.event_id,),
    )


def _amounts(event: OrderEvent) -> Amounts:
    tax: dict[str, Decimal] = {}
    for line in event.lines:
        for part in line.taxes:
            tax[part.tax_code] = tax.get(part.tax_code, ZERO) + part.amount
    net = sum((line.net_amount for line in event.lines), ZERO)
    return Amounts(
        net, tuple(sorted(tax.items())), event.totals.shipping_total, event.totals.discount_total
    )


def _clearing(event: OrderEvent, ref: ReferenceData) -> Account:
    return ref.accounts.cash_clearing if event.tender == "CASH" else ref.accounts.card_clearing


def _anomaly(
    kind: AnomalyType, event: OrderEvent, now: datetime, resolution: str, waited: bool = False
) -> Anomaly:
    where = f"{event.source.topic}:{event.source.partition}:{event.source.offset}"
    return checked(Anomaly, {
        "anomaly_id": f"{kind.value}:{where}",
        "anomaly_type": kind,
        "entity_id": event.correlation_id,
        "channel": event.channel,
        "event_time": event.event_time,
        "detected_at": now,
        "quantity": None,
        "amount": None,
        "currency": None,
        "message": f"{event.event_type} {event.document_id} of order {event.order_id}: "
        f"{resolution}",
        "details": {
            "event_id": event.event_id,
            "event_type": event.event_type.value,
            "resolution": resolution,
            "source": where,
            "waited": str(waited).lower(),
        },
        "correlation_id": event.correlation_id,
    })  # fmt: skip


def _exception(
    event: OrderEvent, reason: ExceptionReason, message: str, now: datetime
) -> ExceptionRecord:
    """Finance cannot use the event: it is kept whole (as canonical JSON) for repair and replay."""
    return ExceptionRecord(
        exception_id=f"finance:{event.source.topic}:{event.source.partition}:{event.source.offset}",
        reason=reason,
        message=message,
        raw_key=event.correlation_id.encode(),
        raw_value=event.model_dump_json().encode(),
        source=event.source,
        step="finance",
        detected_at=now,
    )


_SOLD_LINE_FIELDS = attrgetter(*(f.name for f in fields(SoldLine)))
_ORDER_LEDGER_FIELDS = attrgetter(*(f.name for f in fields(OrderLedger)))
