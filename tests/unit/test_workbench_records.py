"""The workbench's record index: an order's story, the orders behind a gap, settlements, backlog.

Events come from the adapters on the CHANNELS.md examples and postings from finance's own
ledger, so that the index is checked against what the flows really write.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from omnichannel.contracts.anomaly import Anomaly, AnomalyType
from omnichannel.contracts.common import Channel
from omnichannel.contracts.journal import JournalEntry, JournalEntryType
from omnichannel.contracts.order_event import OrderEvent, OrderEventType
from omnichannel.contracts.settlement import Settlement
from omnichannel.workbench.records import AGE_BUCKETS, RecordIndex, age_bucket
from operators.adapters.raw import RawRecord
from operators.finance.ledger import FinanceOutput, FinanceSettings, OrderLedger
from operators.finance.logic import END_OF_TIME
from tests.unit import channel_examples as ex
from tests.unit.availability_events import (
    NORMALIZER,
    REFERENCE,
    T0,
    marketplace,
    web_fulfillment,
    web_order,
    web_refund,
)
from tests.unit.contract_examples import WEB_HOUR
from tests.unit.test_adapters import changed

SETTINGS = FinanceSettings(REFERENCE, grace=timedelta(hours=1))
WEB = "web:820982911946154508"


def finance(*events: OrderEvent, expire: bool = False) -> list[FinanceOutput]:
    """What finance's ledger makes of one order's events (and, with `expire`, at the end)."""
    ledger = OrderLedger()
    outputs: list[FinanceOutput] = []
    for one in events:
        outputs.extend(ledger.apply(one, SETTINGS, T0))
    if expire:
        outputs.extend(ledger.expire(END_OF_TIME, SETTINGS, END_OF_TIME))
    return outputs


def indexed(*events: OrderEvent, outputs: list[FinanceOutput] | None = None) -> RecordIndex:
    index = RecordIndex(REFERENCE)
    for one in events:
        index.add_event(one)
    for output in outputs or []:
        if isinstance(output, JournalEntry):
            index.add_posting(output)
        elif isinstance(output, Anomaly):
            index.add_anomaly(output)
    return index


def settlement(payload: dict[str, object] | None = None) -> Settlement:
    raw = RawRecord("settlements.marketplace", 0, 9, None, ex.encoded(payload or ex.SETTLEMENT))
    result = NORMALIZER.normalize(raw, T0)
    assert isinstance(result, Settlement), result
    return result


def test_an_orders_story_holds_its_events_postings_and_anomalies_once() -> None:
    placed, shipped, refunded = web_order(), web_fulfillment(minute=30), web_refund(minute=90)
    outputs = finance(placed, shipped, refunded, shipped)
    index = indexed(refunded, shipped, placed, shipped, outputs=outputs + outputs)

    story = index.order(WEB)

    assert [e.event_type for e in story.events] == [
        OrderEventType.PLACED,
        OrderEventType.SHIPPED,
        OrderEventType.REFUNDED,
    ]
    assert [p.entry_type for p in story.postings] == [
        JournalEntryType.INVOICE,
        JournalEntryType.CREDIT_MEMO,
    ]
    assert [a.anomaly_type for a in story.anomalies] == [AnomalyType.DUPLICATE_EVENT]
    assert index.order("web:unknown").empty


def test_a_shipment_finance_could_not_post_is_behind_its_hours_gap() -> None:
    # The fulfilment came without its order: finance waited, then gave up on it.
    orphan = web_fulfillment(minute=30)
    outputs = finance(orphan, expire=True)
    assert not any(isinstance(o, JournalEntry) for o in outputs)
    index = indexed(orphan, outputs=outputs)
    hour = datetime(2026, 11, 27, 8, tzinfo=UTC)

    # Finance reconciles a shipment nothing priced under "no currency".
    assert index.gap_orders("web", "XXX", hour) == [WEB]
    assert index.gap_orders(Channel.WEB, "XXX", hour + timedelta(minutes=20)) == [WEB]
    assert index.gap_orders("web", "XXX", hour + timedelta(hours=1)) == []
    assert index.gap_orders("pos", "XXX", hour) == []


def test_a_posted_shipment_is_no_gap_and_an_unposted_one_is() -> None:
    placed, shipped = web_order(), web_fulfillment(minute=30)
    hour = datetime(2026, 11, 27, 8, tzinfo=UTC)

    posted = indexed(placed, shipped, outputs=finance(placed, shipped))
    assert posted.gap_orders("web", "USD", hour) == []
    # Finance has not posted it (yet, or ever): the shipment is behind the gap.
    assert indexed(placed, shipped).gap_orders("web", "USD", hour) == [WEB]
    assert indexed(placed, shipped).gap_orders("web", "EUR", hour) == []


def test_reconciliation_keeps_each_hours_newest_revision() -> None:
    index = RecordIndex(REFERENCE)
    later = WEB_HOUR.model_copy(
        update={"revision": 2, "gaps": 3, "published_at": WEB_HOUR.published_at + timedelta(1)}
    )
    earlier_hour = WEB_HOUR.model_copy(
        update={"window_start": WEB_HOUR.window_start - timedelta(hours=1)}
    )
    for summary in (later, WEB_HOUR, earlier_hour):
        index.add_summary(summary)

    assert index.reconciliation() == [later, earlier_hour]


def test_settlement_components_are_classified_as_finance_posts_them() -> None:
    index = RecordIndex(REFERENCE)
    index.add_settlement(settlement())

    [view] = index.settlements()

    assert view.proceeds == Decimal("41.97")
    assert view.commission == Decimal("-5.85")
    assert view.fees == Decimal("-39.99")  # the service fee, and an FBA fee of nothing
    assert view.payout == Decimal("-3.87")
    assert view.sums
    assert view.difference == 0
    assert (view.deliveries, view.conflicting) == (1, False)


def test_a_settlement_delivered_again_is_counted_and_a_different_one_flagged() -> None:
    index = RecordIndex(REFERENCE)
    first = settlement()
    index.add_settlement(first)
    index.add_settlement(first.model_copy(update={"source": first.source.model_copy()}))
    [again] = index.settlements()
    assert (again.deliveries, again.conflicting) == (2, False)

    # The same id with another fee row (and the deposit to match): finance refused it.
    rows = [*ex.SETTLEMENT["rows"], {"type": "ServiceFee", "amount": "-1.00"}]
    different = changed(changed(ex.SETTLEMENT, "rows", rows), "deposit", "-4.87")
    index.add_settlement(settlement(different))
    [view] = index.settlements()
    assert (view.deliveries, view.conflicting) == (3, True)
    assert view.settlement == first


def test_backlog_counts_orders_not_shipped_yet_by_age_and_channel() -> None:
    index = RecordIndex(REFERENCE)
    web = web_order(minute=20)  # placed 08:15:02, updated 08:20
    waiting_marketplace = marketplace("Unshipped", 0)  # purchased 09:01:13
    shipped_marketplace = marketplace("Shipped", 30)
    for one in (web, waiting_marketplace):
        index.add_event(one)
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    backlog = index.order_backlog(now)

    assert backlog.counts["web"] == {"<1h": 0, "1-4h": 1, "4-24h": 0, ">24h": 0}
    assert backlog.counts["marketplace"]["1-4h"] == 1
    assert web.order_placed_at is not None
    assert backlog.oldest["web"] == now - web.order_placed_at  # placed, not last updated
    assert backlog.total() == 2
    # Shipped, it no longer waits; a status older than the shipment does not bring it back.
    index.add_event(shipped_marketplace)
    index.add_event(changed_status(waiting_marketplace))
    assert index.order_backlog(now).total("marketplace") == 0
    assert index.order_backlog(now + timedelta(days=1)).counts["web"][">24h"] == 1


def changed_status(event: OrderEvent) -> OrderEvent:
    """The same status delivered again under another event id (a late re-submission)."""
    return event.model_copy(update={"event_id": event.event_id + ":late"})


def test_age_buckets() -> None:
    ages = [timedelta(minutes=-5), timedelta(minutes=59), timedelta(hours=1), timedelta(hours=5)]
    assert [age_bucket(a) for a in ages] == ["<1h", "<1h", "1-4h", "4-24h"]
    assert age_bucket(timedelta(days=2)) == AGE_BUCKETS[-1]
