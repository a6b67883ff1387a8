"""What the system knows of an order, a reconciliation hour or a settlement, for the workbench.

A person deciding an exception case needs the rest of the order's story: its canonical events,
the ERP postings made of them, the anomalies found on the way. Finance needs the hourly
reconciliation with the orders behind a gap, and the marketplace settlements with what was
paid and why. `SystemRecords` reads the topics holding those (`canonical.orders`,
`canonical.settlements`, `erp.postings` (committed transactions only), `integration.anomalies`,
`finance.reconciliation`) from their beginning in a daemon thread, and keeps following them;
`RecordIndex`, pure, keeps what the pages ask for. It reads them as the case store does
(`omnichannel.workbench.following`).

Memory: the index keeps every canonical order event whole (its contract), every posting and
every anomaly, by correlation id. A demo day (20k inputs, 17k canonical events) takes about
75 MiB, measured; a real day of a million events would take gigabytes, so before the workbench
reads a production topic the index should keep only what the pages show of an event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from confluent_kafka import (
    Message,
    TopicPartition,
)

from omnichannel.codec import RecordCodec, codec_for
from omnichannel.contracts.anomaly import Anomaly, AnomalyType
from omnichannel.contracts.common import Contract
from omnichannel.contracts.journal import JournalEntry, JournalEntryType
from omnichannel.contracts.order_event import OrderEvent, OrderEventType
from omnichannel.contracts.reconciliation import ReconciliationSummary
from omnichannel.contracts.settlement import Settlement
from omnichannel.kafka_settings import client_config
from omnichannel.reference import ReferenceData, reference_from_env
from omnichannel.topics import Topics
from omnichannel.workbench.following import Follower, follow, follow_from
from operators.finance.postings import balanced, settlement_entry
from operators.finance.reconciliation import HOUR
from operators.finance.settlements import settlement_digest, settlement_key

logger = logging.getLogger(__name__)

_E = OrderEventType
ZERO = Decimal(0)
# ISO 4217's "no currency": what finance reconciles an event under when nothing priced it.
NO_CURRENCY = "XXX"
# The entry finance posts for each event that moves money (operators.finance.ledger).
POSTED_AS = {
    _E.SHIPPED: JournalEntryType.INVOICE,
    _E.STORE_SALE: JournalEntryType.INVOICE,
    _E.REFUNDED: JournalEntryType.CREDIT_MEMO,
    _E.STORE_RETURN: JournalEntryType.CREDIT_MEMO,
    _E.STORE_VOID: JournalEntryType.CREDIT_MEMO,
}
AGE_BUCKETS = ("<1h", "1-4h", "4-24h", ">24h")
_BUCKET_LIMITS = (timedelta(hours=1), timedelta(hours=4), timedelta(hours=24))


@dataclass(frozen=True)
class OrderStory:
    """Everything the system recorded about one order: events by event time, its postings and
    its anomalies."""

    events: list[OrderEvent]
    postings: list[JournalEntry]
    anomalies: list[Anomaly]

    @property
    def empty(self) -> bool:
        return not (self.events or self.postings or self.anomalies)


@dataclass(frozen=True)
class SettlementView:
    """A marketplace settlement as finance posts it: proceeds cleared, commission and fees
    expensed, the payout to the bank, and whether the rows sum to the payout.

    Amounts are in the report's sign: credits to the seller positive (fees are negative).
    """

    settlement: Settlement
    proceeds: Decimal
    commission: Decimal
    fees: Decimal
    payout: Decimal
    sums: bool
    deliveries: int = 1
    conflicting: bool = False  # delivered again under its id with different content

    @property
    def difference(self) -> Decimal:
        """What the payout differs by from the rows' total (zero when it sums)."""
        return self.payout - (self.proceeds + self.commission + self.fees)


@dataclass(frozen=True)
class Backlog:
    """Orders placed and not shipped (nor cancelled) yet, per channel, by age."""

    as_of: datetime
    counts: dict[str, dict[str, int]]  # channel -> AGE_BUCKETS label -> orders
    oldest: dict[str, timedelta]  # channel -> age of its oldest waiting order

    def total(self, channel: str | None = None) -> int:
        chosen = [self.counts.get(channel, {})] if channel else list(self.counts.values())
        return sum(sum(buckets.values()) for buckets in chosen)


def settlement_view(settlement: Settlement, reference: ReferenceData) -> SettlementView:
    """The settlement's components as finance's posting classifies them (`settlement_entry`):
    the entry's lines by account role, back in the report's sign."""
    entry = settlement_entry(settlement, reference)
    by_role: dict[str, Decimal] = {}
    for line in entry.lines:
        by_role[line.account_role] = by_role.get(line.account_role, ZERO) + line.credit - line.debit
    return SettlementView(
        settlement=settlement,
        proceeds=by_role.get("marketplace_receivable", ZERO),
        commission=by_role.get("marketplace_commission", ZERO),
        fees=by_role.get("marketplace_fees", ZERO),
        payout=settlement.deposit,
        sums=balanced(entry),
    )


def age_bucket(age: timedelta) -> str:
    for label, limit in zip(AGE_BUCKETS, _BUCKET_LIMITS, strict=False):
        if age < limit:
            return label
    return AGE_BUCKETS[-1]


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class _Order:
    events: dict[str, OrderEvent] = field(default_factory=dict)  # by event id: re-deliveries once
    postings: dict[str, JournalEntry] = field(default_factory=dict)  # by idempotency key
    anomalies: dict[str, Anomaly] = field(default_factory=dict)  # by anomaly id
    currency: str | None = None


class RecordIndex:
    """The records the workbench's pages show, indexed by order, hour and settlement. Pure."""

    def __init__(self, reference: ReferenceData) -> None:
        self._reference = reference
        self._orders: dict[str, _Order] = {}
        # (channel, hour) -> orders with an event in that hour that finance posts.
        self._moved: dict[tuple[str, datetime], set[str]] = {}
        self._gap_anomalies: dict[tuple[str, datetime], set[str]] = {}
        self._summaries: dict[tuple[str, str, datetime], ReconciliationSummary] = {}
        self._settlements: dict[str, SettlementView] = {}
        self._awaiting: dict[str, tuple[str, datetime]] = {}  # order -> (channel, placed at)
        self._done: set[str] = set()  # shipped or cancelled: no longer awaiting shipment
        self.newest_event_time: datetime | None = None

    def _order(self, correlation_id: str) -> _Order:
        order = self._orders.get(correlation_id)
        if order is None:
            order = self._orders[correlation_id] = _Order()
        return order

    def add_event(self, event: OrderEvent) -> None:
        order = self._order(event.correlation_id)
        if event.event_id in order.events:
            return
        order.events[event.event_id] = event
        if order.currency is None and event.currency:
            order.currency = event.currency
        if event.event_type in POSTED_AS:
            key = (event.channel.value, _hour(event.event_time))
            self._moved.setdefault(key, set()).add(event.correlation_id)
        if self.newest_event_time is None or event.event_time > self.newest_event_time:
            self.newest_event_time = event.event_time
        self._track_shipment(event)

    def _track_shipment(self, event: OrderEvent) -> None:
        cid = event.correlation_id
        if event.event_type in (_E.SHIPPED, _E.CANCELLED):
            self._done.add(cid)
            self._awaiting.pop(cid, None)
        elif event.event_type in (_E.PLACED, _E.PENDING) and cid not in self._done:
            placed = event.order_placed_at or event.event_time
            known = self._awaiting.get(cid)
            if known is None or placed < known[1]:
                self._awaiting[cid] = (event.channel.value, placed)

    def add_posting(self, entry: JournalEntry) -> None:
        self._order(entry.correlation_id).postings.setdefault(entry.idempotency_key, entry)

    def add_anomaly(self, anomaly: Anomaly) -> None:
        self._order(anomaly.correlation_id).anomalies.setdefault(anomaly.anomaly_id, anomaly)
        if anomaly.anomaly_type is AnomalyType.RECONCILIATION_GAP and anomaly.channel:
            key = (anomaly.channel.value, _hour(anomaly.event_time))
            self._gap_anomalies.setdefault(key, set()).add(anomaly.correlation_id)

    def add_summary(self, summary: ReconciliationSummary) -> None:
        key = (summary.channel.value, summary.currency, summary.window_start)
        known = self._summaries.get(key)
        if known is None or (summary.revision, summary.published_at) > (
            known.revision,
            known.published_at,
        ):
            self._summaries[key] = summary

    def add_settlement(self, settlement: Settlement) -> None:
        """The first report under its id is what finance posted; a later delivery is counted,
        and flagged when it says something else (finance refused it as a conflict)."""
        key = settlement_key(settlement)
        known = self._settlements.get(key)
        if known is None:
            self._settlements[key] = settlement_view(settlement, self._reference)
            return
        differs = settlement_digest(settlement) != settlement_digest(known.settlement)
        self._settlements[key] = SettlementView(
            settlement=known.settlement,
            proceeds=known.proceeds,
            commission=known.commission,
            fees=known.fees,
            payout=known.payout,
            sums=known.sums,
            deliveries=known.deliveries + 1,
            conflicting=known.conflicting or differs,
        )

    def order(self, correlation_id: str) -> OrderStory:
        """The order's events (by event time), postings (by posting date) and anomalies."""
        order = self._orders.get(correlation_id)
        if order is None:
            return OrderStory([], [], [])
        return OrderStory(
            events=sorted(
                order.events.values(), key=lambda e: (e.event_time, e.source.offset, e.event_id)
            ),
            postings=sorted(
                order.postings.values(), key=lambda p: (p.event_time, p.idempotency_key)
            ),
            anomalies=sorted(order.anomalies.values(), key=lambda a: (a.detected_at, a.anomaly_id)),
        )

    def reconciliation(self) -> list[ReconciliationSummary]:
        """The newest revision of each channel's hour per currency, newest hour first."""
        return sorted(
            self._summaries.values(),
            key=lambda s: (-s.window_start.timestamp(), s.channel.value, s.currency),
        )

    def gap_orders(self, channel: str, currency: str, window_start: datetime) -> list[str]:
        """The orders behind a gap of that hour: a shipment or refund (or store sale, return,
        void) in it with no invoice or credit memo posted for its document, or a
        reconciliation_gap anomaly. An order whose currency is not known yet counts in every
        currency of its channel, rather than going unseen."""
        start = _hour(window_start)
        key = (str(channel), start)
        found: set[str] = set()
        for cid in self._moved.get(key, ()):
            order = self._orders[cid]
            if any(
                self._currency(event, order) == currency and not self._posted(event, order)
                for event in order.events.values()
                if event.event_type in POSTED_AS and start <= event.event_time < start + HOUR
            ):
                found.add(cid)
        for cid in self._gap_anomalies.get(key, ()):
            known = self._orders[cid].currency
            if known is None or known == currency:
                found.add(cid)
        return sorted(found)

    @staticmethod
    def _currency(event: OrderEvent, order: _Order) -> str:
        return event.currency or order.currency or NO_CURRENCY

    @staticmethod
    def _posted(event: OrderEvent, order: _Order) -> bool:
        kind = POSTED_AS[event.event_type]
        return any(
            entry.document_id == event.document_id and entry.entry_type is kind
            for entry in order.postings.values()
        )

    def settlements(self) -> list[SettlementView]:
        """Every settlement, the newest period first."""
        return sorted(
            self._settlements.values(),
            key=lambda v: (-v.settlement.period_end.timestamp(), v.settlement.settlement_id),
        )

    def order_backlog(self, now: datetime) -> Backlog:
        """Orders placed (or pending at the marketplace) with no shipment yet, by age at `now`
        per channel. Store sales are never waiting: they are handed over at the till."""
        counts: dict[str, dict[str, int]] = {}
        oldest: dict[str, timedelta] = {}
        for channel, placed in self._awaiting.values():
            age = now - placed
            buckets = counts.setdefault(channel, dict.fromkeys(AGE_BUCKETS, 0))
            buckets[age_bucket(age)] += 1
            if channel not in oldest or age > oldest[channel]:
                oldest[channel] = age
        return Backlog(as_of=now, counts=counts, oldest=oldest)


class SystemRecords(Follower):
    """The record index kept in step with the topics, by a daemon thread.

    `ready()` once every topic was read to the end it had at start; the index keeps following
    them afterwards. Read the index under `lock`, or through the methods here, which take it.
    A record that does not decode is logged with its coordinates and left out.
    """

    def __init__(
        self,
        brokers: list[str],
        topics: Topics,
        schema_registry_url: str | None = None,
        reference: ReferenceData | None = None,
    ) -> None:
        super().__init__("workbench-records", "the system's records")
        self._config = client_config(brokers)
        self.index = RecordIndex(reference or reference_from_env())
        self.lock = threading.RLock()
        self.undecodable = 0
        self._adders: dict[str, tuple[RecordCodec[Contract], Callable[[Contract], None]]] = {}
        wanted: Iterable[tuple[str, type[Contract], Callable[..., None]]] = (
            (topics.canonical_orders, OrderEvent, self.index.add_event),
            (topics.canonical_settlements, Settlement, self.index.add_settlement),
            (topics.postings, JournalEntry, self.index.add_posting),
            (topics.anomalies, Anomaly, self.index.add_anomaly),
            (topics.reconciliation, ReconciliationSummary, self.index.add_summary),
        )
        for topic, model, add in wanted:
            self._adders[topic] = (codec_for(model, schema_registry_url, topic), add)

    def follow_topics(self) -> None:
        positions: list[TopicPartition] = []
        for topic in self._adders:
            positions += follow_from(self._config, topic, self._add)
        self.became_ready()
        follow(self._config, positions, self._add, self.stopping)

    def _add(self, message: Message) -> None:
        topic = message.topic() or ""
        codec, add = self._adders[topic]
        try:
            record = codec.decode_model(message.value() or b"")
        except Exception as exc:  # noqa: BLE001 - whatever the bytes are, they are one bad record
            self.undecodable += 1
            logger.warning(
                "%s:%s:%s does not decode, left out: %s",
                topic,
                message.partition(),
                message.offset(),
                exc,
            )
            return
        with self.lock:
            add(record)

    def order(self, correlation_id: str) -> OrderStory:
        with self.lock:
            return self.index.order(correlation_id)

    def reconciliation(self) -> list[ReconciliationSummary]:
        with self.lock:
            return self.index.reconciliation()

    def gap_orders(self, channel: str, currency: str, window_start: datetime) -> list[str]:
        with self.lock:
            return self.index.gap_orders(channel, currency, window_start)

    def settlements(self) -> list[SettlementView]:
        with self.lock:
            return self.index.settlements()

    def order_backlog(self, now: datetime) -> Backlog:
        with self.lock:
            return self.index.order_backlog(now)
