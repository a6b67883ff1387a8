"""Posting rules and the order lifecycle, on the CHANNELS.md examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from omnichannel.contracts.anomaly import Anomaly
from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.contracts.journal import JournalEntry
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.contracts.settlement import Settlement
from operators.adapters.raw import RawRecord
from operators.finance.ledger import FinanceOutput, FinanceSettings, OrderLedger
from operators.finance.postings import balanced, settlement_entry
from operators.finance.reconciliation import Measure
from tests.unit import channel_examples as ex
from tests.unit.availability_events import (
    NORMALIZER,
    REFERENCE,
    event,
    marketplace,
    pos,
    web_fulfillment,
    web_order,
    web_refund,
)
from tests.unit.test_adapters import changed

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
SETTINGS = FinanceSettings(REFERENCE, grace=timedelta(hours=1))


def run(*events: OrderEvent) -> list[FinanceOutput]:
    ledger = OrderLedger()
    outputs: list[FinanceOutput] = []
    for one in events:
        outputs.extend(ledger.apply(one, SETTINGS, NOW))
    return outputs


def entries(outputs: list[FinanceOutput]) -> list[JournalEntry]:
    return [o for o in outputs if isinstance(o, JournalEntry)]


def kinds(outputs: list[FinanceOutput]) -> list[str]:
    return [
        f"{o.anomaly_type.value}:{o.details['resolution']}" if isinstance(o, Anomaly)
        else f"exception:{o.reason.value}" if isinstance(o, ExceptionRecord)
        else o.idempotency_key
        for o in outputs
        if not isinstance(o, Measure)
    ]  # fmt: skip


def lines(entry: JournalEntry) -> dict[tuple[str, str | None], tuple[Decimal, Decimal]]:
    return {(line.account_role, line.tax_code): (line.debit, line.credit) for line in entry.lines}


def test_web_order_is_invoiced_on_fulfilment() -> None:
    (entry,) = entries(run(web_order(), web_fulfillment()))
    assert entry.idempotency_key == "invoice:web:820982911946154508:4400001"
    assert (entry.currency, entry.correlation_id) == ("USD", "web:820982911946154508")
    assert lines(entry) == {
        ("debtor", None): (Decimal("64.86"), Decimal(0)),
        ("revenue", None): (Decimal(0), Decimal("59.98")),
        ("tax_payable", "US-NY-SALES"): (Decimal(0), Decimal("4.88")),
        ("shipping_revenue", None): (Decimal(0), Decimal("5.00")),
        ("discounts", None): (Decimal("5.00"), Decimal(0)),
    }
    assert [line.account for line in entry.lines][:2] == ["1200", "4000"]
    assert balanced(entry)


def test_partial_fulfilments_invoice_the_whole_order_to_the_cent() -> None:
    invoices = entries(
        run(web_order(), web_fulfillment(1, 30, quantity=1), web_fulfillment(2, 40, quantity=1))
    )
    assert len(invoices) == 2
    revenue = sum((lines(e)[("revenue", None)][1] for e in invoices), Decimal(0))
    tax = sum((lines(e)[("tax_payable", "US-NY-SALES")][1] for e in invoices), Decimal(0))
    assert (revenue, tax) == (Decimal("59.98"), Decimal("4.88"))
    assert ("shipping_revenue", None) not in lines(invoices[1])  # shipping on the first only


def test_refund_gets_a_credit_memo() -> None:
    memo = entries(run(web_order(), web_fulfillment(), web_refund()))[-1]
    assert memo.entry_type == "credit_memo"
    assert lines(memo) == {
        ("returns", None): (Decimal("29.99"), Decimal(0)),
        ("tax_payable", "US-NY-SALES"): (Decimal("2.44"), Decimal(0)),
        ("creditor", None): (Decimal(0), Decimal("32.43")),
    }


def test_redelivery_and_resubmission() -> None:
    again = run(web_order(), web_order())
    assert kinds(again) == ["duplicate_event:re-delivered"]
    resubmitted = run(web_order(minute=0), web_order(minute=5))
    assert kinds(resubmitted) == ["duplicate_order:re-submitted, same content"]
    moved = changed(ex.WEB_ORDER, "fulfillment_location", "DC-WEST")
    different = changed(moved, "updated_at", "2026-11-27T09:00:00Z")
    outputs = run(web_order(), event("orders.web", different))
    (refused,) = [o for o in outputs if isinstance(o, ExceptionRecord)]
    assert refused.reason == "conflicting_resubmission"


def test_fulfilment_before_its_order_waits_then_posts() -> None:
    outputs = run(web_fulfillment(), web_order())
    assert kinds(outputs) == [
        "out_of_order:reordered",
        "invoice:web:820982911946154508:4400001",
    ]


def test_refund_before_the_invoice_waits_for_it() -> None:
    outputs = run(web_order(), web_refund(), web_fulfillment())
    assert kinds(outputs)[-2:] == [
        "out_of_order:reordered",
        "credit:web:820982911946154508:5500001",
    ]


def test_after_the_grace_a_waiting_event_leaves_as_anomaly_and_exception() -> None:
    ledger = OrderLedger()
    assert ledger.apply(web_fulfillment(minute=30), SETTINGS, NOW) == []
    later = datetime(2026, 11, 27, 9, 29, tzinfo=UTC)
    waited = NOW + SETTINGS.min_wait
    assert ledger.expire(later, SETTINGS, waited) == []
    # Past the grace in event time, but not yet the floor of wall time: it still waits.
    assert ledger.expire(later + timedelta(minutes=2), SETTINGS, NOW) == []
    expired = ledger.expire(later + timedelta(minutes=2), SETTINGS, waited)
    assert kinds(expired) == [
        "out_of_order:expired",
        "reconciliation_gap:shipped, not invoiced",
        "exception:out_of_order",
    ]
    gaps = [m for m in expired if isinstance(m, Measure)]
    assert [(m.what, m.count, m.currency) for m in gaps] == [("gaps", 1, "XXX")]
    assert ledger.waiting == []


def test_pos_sale_void_and_void_before_sale() -> None:
    (sale,) = entries(run(pos()))
    assert lines(sale)[("debtor", None)] == (Decimal("19.99"), Decimal(0))
    assert sale.lines[0].account == REFERENCE.accounts.card_clearing.number
    assert lines(sale)[("tax_payable", "DE-VAT-19")] == (Decimal(0), Decimal("3.19"))
    voided = entries(run(pos(), pos("VOID", 88122, voids=88121)))
    assert [e.entry_type.value for e in voided] == ["invoice", "credit_memo"]
    assert lines(voided[1])[("debtor", None)] == (Decimal(0), Decimal("19.99"))
    early = run(pos("VOID", 88122, voids=88121), pos())
    assert kinds(early) == [
        "invoice:pos:S-014:88121:S-014:88121",
        "out_of_order:reordered",
        "void:pos:S-014:88121:S-014:88122",
    ]


def test_marketplace_invoices_once_at_shipped_and_ignores_a_late_status() -> None:
    outputs = run(marketplace("Pending", 0), marketplace("Shipped", 9), marketplace("Unshipped", 5))
    (entry,) = entries(outputs)
    assert entry.lines[0].account == REFERENCE.accounts.marketplace_receivable.number
    assert lines(entry)[("debtor", None)] == (Decimal("41.97"), Decimal(0))
    assert kinds(outputs)[-1] == "out_of_order:stale_status"


def test_settlement_entry_clears_the_receivable_and_expenses_fees() -> None:
    settlement = NORMALIZER.normalize(
        RawRecord("settlements.marketplace", 0, 0, None, ex.encoded(ex.SETTLEMENT)), NOW
    )
    assert isinstance(settlement, Settlement)
    entry = settlement_entry(settlement, REFERENCE)
    assert balanced(entry)
    assert lines(entry) == {
        ("bank", None): (Decimal(0), Decimal("3.87")),
        ("marketplace_commission", None): (Decimal("5.85"), Decimal(0)),
        ("marketplace_fees", None): (Decimal("39.99"), Decimal(0)),
        ("marketplace_receivable", None): (Decimal(0), Decimal("41.97")),
    }
    assert entry.idempotency_key == "settlement:marketplace:11814637441"
