"""One realistic, valid instance of every contract, built from the CHANNELS.md examples.

The web order #1001, the settlement report 11814637441, the WMS receipt WMS-7781-002 and the
POS receipt S-014:88121 appear as the adapters map them; the journal entry is that POS sale's
invoice, the availability update and the anomaly are what the flows would publish about them;
the audit event is the workbench's outcome of replaying that receipt's unknown-EAN exception.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

from omnichannel.contracts.anomaly import Anomaly, AnomalyType
from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.common import Channel, Contract, SourceCoordinates
from omnichannel.contracts.exception_audit import AuditAction, ExceptionAudit, ReplayOutcome
from omnichannel.contracts.exception_record import ExceptionReason, ExceptionRecord
from omnichannel.contracts.inventory import InventoryMovement, MovementType
from omnichannel.contracts.journal import JournalEntry, JournalEntryType, JournalLine
from omnichannel.contracts.order_event import (
    Discount,
    OrderEvent,
    OrderEventType,
    OrderLine,
    OrderTotals,
    ShippingCharge,
    TaxAmount,
)
from omnichannel.contracts.reconciliation import ReconciliationSummary
from omnichannel.contracts.settlement import Settlement, SettlementAmount, SettlementRow
from tests.unit import channel_examples

KAFKA_TIME = datetime(2026, 11, 27, 8, 15, 3, 250000, tzinfo=UTC)

WEB_ORDER_PLACED = OrderEvent(
    event_id="web:orders/create:820982911946154508:2026-11-27T08:15:02Z",
    event_type=OrderEventType.PLACED,
    channel=Channel.WEB,
    order_id="820982911946154508",
    document_id="820982911946154508",
    channel_status="orders/create",
    event_time=datetime(2026, 11, 27, 8, 15, 2, tzinfo=UTC),
    order_placed_at=datetime(2026, 11, 27, 8, 15, 2, tzinfo=UTC),
    location="DC-EAST",
    currency="USD",
    lines=[
        OrderLine(
            line_id="1",
            sku="SKU-1001",
            quantity=2,
            unit_price=Decimal("29.99"),
            net_amount=Decimal("59.98"),
            discount_amount=Decimal("0"),
            tax_amount=Decimal("4.88"),
            taxes=[
                TaxAmount(
                    tax_code="US-NY-SALES",
                    channel_tax_code="US-NY",
                    rate="0.08875",
                    amount=Decimal("4.88"),
                )
            ],
        )
    ],
    discounts=[Discount(code="BF25", amount=Decimal("5.00"))],
    shipping=[ShippingCharge(code="STD", amount=Decimal("5.00"))],
    totals=OrderTotals(
        subtotal=Decimal("59.98"),
        discount_total=Decimal("5.00"),
        shipping_total=Decimal("5.00"),
        tax_total=Decimal("4.88"),
        grand_total=Decimal("64.86"),
    ),
    restock=False,
    correlation_id="web:820982911946154508",
    source=SourceCoordinates(
        topic="orders.web", partition=0, offset=42, key="820982911946154508", timestamp=KAFKA_TIME
    ),
)

RECEIPT_MOVEMENT = InventoryMovement(
    movement_id="WMS-7781-002",
    movement_type=MovementType.RECEIPT,
    sku="SKU-1001",
    location="DC-EAST",
    quantity=120,
    event_time=datetime(2026, 11, 27, 6, 0, tzinfo=UTC),
    reference="PO-55121",
    correlation_id="movement:WMS-7781-002",
    source=SourceCoordinates(topic="inventory.movements", partition=1, offset=9001, key="SKU-1001"),
)

MARKETPLACE_SETTLEMENT = Settlement(
    settlement_id="11814637441",
    marketplace="ATVPDKIKX0DER",
    period_start=datetime(2026, 11, 20, tzinfo=UTC),
    period_end=datetime(2026, 11, 27, tzinfo=UTC),
    currency="USD",
    deposit=Decimal("-3.87"),
    rows=[
        SettlementRow(
            row_type="Order",
            order_id="113-5938264-0371421",
            sku="SKU-2040",
            amounts=[
                SettlementAmount(component="principal", amount=Decimal("38.97")),
                SettlementAmount(component="tax", amount=Decimal("3.00")),
                SettlementAmount(component="commission", amount=Decimal("-5.85")),
                SettlementAmount(component="fba_fee", amount=Decimal("0.00")),
            ],
        ),
        SettlementRow(
            row_type="ServiceFee",
            description="Subscription",
            amounts=[SettlementAmount(component="amount", amount=Decimal("-39.99"))],
        ),
    ],
    correlation_id="settlement:11814637441",
    source=SourceCoordinates(
        topic="settlements.marketplace", partition=0, offset=3, key="11814637441"
    ),
)

WEB_AVAILABILITY = AvailabilityUpdate(
    channel=Channel.WEB,
    sku="SKU-1001",
    available_to_sell=103,
    version=7,
    event_time=datetime(2026, 11, 27, 8, 15, 2, tzinfo=UTC),
    on_hand=120,
    reserved=2,
    safety_stock=10,
    buffer=5,
    allocation_share="1",
    published_at=datetime(2026, 11, 27, 8, 15, 2, 418337, tzinfo=UTC),
)

# The POS sale S-014:88121 (19.99 EUR including 19 % VAT, paid by card), invoiced at once.
POS_SALE_INVOICE = JournalEntry(
    idempotency_key="invoice:pos:S-014:88121",
    entry_type=JournalEntryType.INVOICE,
    channel=Channel.POS,
    order_id="S-014:88121",
    document_id="S-014:88121",
    posting_date=date(2026, 11, 27),
    event_time=datetime(2026, 11, 27, 9, 2, 44, tzinfo=UTC),
    currency="EUR",
    lines=[
        JournalLine(
            account="1150",
            account_role="card_clearing",
            debit=Decimal("19.99"),
            credit=Decimal("0.00"),
            memo="Card payment, receipt 88121",
        ),
        JournalLine(
            account="4000", account_role="revenue", debit=Decimal("0"), credit=Decimal("16.80")
        ),
        JournalLine(
            account="2310",
            account_role="tax_payable",
            debit=Decimal("0"),
            credit=Decimal("3.19"),
            tax_code="DE-VAT-19",
        ),
    ],
    source_event_ids=["pos:S-014:88121:SALE"],
    correlation_id="pos:S-014:88121",
)

MARKETPLACE_OVERSELL = Anomaly(
    anomaly_id="oversell:marketplace:SKU-2040:DC-EAST:113-5938264-0371421",
    anomaly_type=AnomalyType.OVERSELL,
    entity_id="SKU-2040@DC-EAST",
    channel=Channel.MARKETPLACE,
    event_time=datetime(2026, 11, 27, 9, 1, 13, tzinfo=UTC),
    detected_at=datetime(2026, 11, 27, 9, 1, 13, 902114, tzinfo=UTC),
    quantity=1,
    amount=Decimal("12.99"),
    currency="USD",
    message="Order 113-5938264-0371421 reserves 3 units of SKU-2040 at DC-EAST; 2 were there.",
    details={"order_id": "113-5938264-0371421", "on_hand": "2", "reserved": "3"},
    correlation_id="marketplace:113-5938264-0371421",
)

_UNKNOWN_EAN_SALE = dict(channel_examples.POS_SALE, lines=[{"ean": "0000000000000", "qty": 1}])

UNKNOWN_EAN_EXCEPTION = ExceptionRecord(
    exception_id="orders.pos:0:1187",
    reason=ExceptionReason.UNKNOWN_EAN,
    message="lines.0.ean: EAN 0000000000000 is not in the catalog",
    raw_key=b"S-014:88121",
    raw_value=json.dumps(_UNKNOWN_EAN_SALE).encode(),
    source=SourceCoordinates(
        topic="orders.pos",
        partition=0,
        offset=1187,
        key="S-014:88121",
        timestamp=datetime(2026, 11, 27, 9, 2, 45, 17000, tzinfo=UTC),
    ),
    step="normalize",
    detected_at=datetime(2026, 11, 27, 9, 2, 45, 120553, tzinfo=UTC),
)

# The unknown-EAN sale was replayed to orders.pos offset 1402, and failed there again.
EXCEPTION_AUDIT = ExceptionAudit(
    audit_id="outcome:orders.pos:0:1187:orders.pos:0:1402",
    exception_id="orders.pos:0:1187",
    action=AuditAction.OUTCOME,
    actor="workbench",
    actor_groups=[],
    role="system",
    at=datetime(2026, 11, 27, 10, 31, 7, 402118, tzinfo=UTC),
    expected_status="replay_pending",
    replayed_to=SourceCoordinates(
        topic="orders.pos",
        partition=0,
        offset=1402,
        key="S-014:88121",
        timestamp=datetime(2026, 11, 27, 10, 31, 5, 880000, tzinfo=UTC),
    ),
    outcome=ReplayOutcome.FAILED_AGAIN,
    outcome_detail="unknown_ean: lines.0.ean: EAN 0000000000000 is not in the catalog",
)

WEB_HOUR = ReconciliationSummary(
    channel=Channel.WEB,
    currency="USD",
    window_start=datetime(2026, 11, 27, 8, tzinfo=UTC),
    window_end=datetime(2026, 11, 27, 9, tzinfo=UTC),
    ordered=Decimal("64.86"),
    shipped=Decimal("64.86"),
    invoiced=Decimal("64.86"),
    refunded=Decimal("32.43"),
    credited=Decimal("32.43"),
    orders=1,
    invoices=1,
    credit_memos=1,
    gaps=0,
    revision=1,
    published_at=KAFKA_TIME,
)

EXAMPLES: dict[str, Contract] = {
    type(example).__name__: example
    for example in (
        WEB_ORDER_PLACED,
        RECEIPT_MOVEMENT,
        MARKETPLACE_SETTLEMENT,
        WEB_AVAILABILITY,
        POS_SALE_INVOICE,
        MARKETPLACE_OVERSELL,
        UNKNOWN_EAN_EXCEPTION,
        WEB_HOUR,
        EXCEPTION_AUDIT,
    )
}
