"""Business metrics of the flows for Prometheus, served on one endpoint with Bytewax's own.

What operations and finance ask of the flows, counted where the dataflows already hold the
answer: records in per source topic and channel, out per topic, exceptions by reason,
duplicates, anomalies, order aging, failed postings, refund mismatches, availability latency,
ERP posting delay, the reconciliation backlog and gap, consumer lag; and, apart, the broker's
outages as the sinks wait them out.

Counting is cheap on the hot path: a `tap` sees each batch of a stream once, tallies it in
local dicts and adds to each labelled child once per batch; a `BatchHistogram` sorts a
batch's values into its buckets and takes its lock once per batch. No label is per key.

Bytewax 0.21 keeps its own metrics (items in and out per step, durations of each step's
batches) in Rust and serves them from its dataflow API webserver, together with everything
in prometheus-client's default registry, where these live. `serve_from_env` turns that
server on at `METRICS_PORT`, so one scrape of `/metrics` returns both, and starts the
consumer lag watcher.
"""

from __future__ import annotations

import atexit
import bisect
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic, StatefulLogic
from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import REGISTRY, Counter, Gauge, disable_created_metrics
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from omnichannel.contracts.anomaly import Anomaly, AnomalyType
from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.common import Channel, Contract
from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.order_event import OrderEvent, OrderEventType
from omnichannel.contracts.reconciliation import ReconciliationSummary
from omnichannel.contracts.settlement import Settlement
from omnichannel.kafka_settings import client_config, kafka_brokers_from_env
from omnichannel.settings import SettingError, env_int
from omnichannel.topics import Topics
from operators.availability.order_events import OrderStockEvent

logger = logging.getLogger(__name__)

X = TypeVar("X")
V = TypeVar("V")
W = TypeVar("W")
S = TypeVar("S")
SourceMessage = KafkaSourceMessage[bytes | None, bytes | None]

DEFAULT_PORT = 9100
DEFAULT_LAG_INTERVAL_S = 10
WAREHOUSE = "warehouse"  # the channel label of stock movements
UNKNOWN = "unknown"  # the channel label of a record that could not be read
NOT_DELIVERED = "not_delivered"  # the reason label of a posting the broker did not take
BACKLOG_HORIZON = timedelta(days=1)  # as long as finance keeps a closed hour open to revision

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
# From an order shipped within the minute to one that waited a month for stock.
AGING_BUCKETS = (
    MINUTE, 5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR,
    12 * HOUR, DAY, 2 * DAY, 3 * DAY, 5 * DAY, 7 * DAY, 14 * DAY, 30 * DAY,
)  # fmt: skip
# Around the coalescing window (250 ms by default) up to an hour behind.
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, MINUTE, 5 * MINUTE,
    15 * MINUTE, HOUR,
)  # fmt: skip
# From a posting committed in the epoch of its event (SNAPSHOT_INTERVAL_S, 10 s in k8s) to one
# that waited out the finance grace (an hour by default) or a long broker outage.
POSTING_DELAY_BUCKETS = (
    0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, MINUTE, 2 * MINUTE, 5 * MINUTE, 15 * MINUTE,
    30 * MINUTE, HOUR, 2 * HOUR, 6 * HOUR, DAY,
)  # fmt: skip


class BatchHistogram(Collector):
    """A Prometheus histogram that takes a batch of observations under one lock.

    prometheus-client's `Histogram.observe` costs about 1.5 us a value (a lock and a linear
    search per call); this costs a bisection and an addition a value. Negative values (clocks
    that disagree) count as zero.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._bounds = tuple(sorted(buckets))
        self._children: dict[tuple[str, ...], _HistogramChild] = {}
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(self)

    def labels(self, *values: str) -> _HistogramChild:
        """The child for these label values, made once."""
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self._labelnames):
                raise ValueError(f"{self._name}: expected labels {self._labelnames}, got {values}")
            with self._lock:
                child = self._children.setdefault(values, _HistogramChild(self._bounds))
        return child

    def describe(self) -> Iterable[Metric]:
        return [HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)]

    def collect(self) -> Iterable[Metric]:
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)
        bounds = [repr(bound) for bound in self._bounds] + ["+Inf"]
        for values, child in sorted(self._children.items()):
            counts, total = child.read()
            cumulative, buckets = 0, []
            for bound, count in zip(bounds, counts, strict=True):
                cumulative += count
                buckets.append((bound, float(cumulative)))
            family.add_metric(list(values), buckets, total)
        return [family]


class _HistogramChild:
    __slots__ = ("_bounds", "_counts", "_lock", "_sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe_many(self, values: Iterable[float]) -> None:
        """Count a batch of values into their buckets (a value equal to a bound is in it)."""
        bounds, counts, total = self._bounds, [0] * len(self._counts), 0.0
        for value in values:
            if value < 0.0:
                value = 0.0
            counts[bisect.bisect_left(bounds, value)] += 1
            total += value
        with self._lock:
            for index, count in enumerate(counts):
                if count:
                    self._counts[index] += count
            self._sum += total

    def read(self) -> tuple[list[int], float]:
        with self._lock:
            return list(self._counts), self._sum


EVENTS_IN = Counter(
    "omni_events_in",
    "Input records read, by source topic and channel (warehouse: stock movements; "
    "unknown: a record that could not be read)",
    ("flow", "topic", "channel"),
)
EVENTS_PROCESSED = Counter(
    "omni_events_processed",
    "Input records accepted: made canonical (normalization) or decoded (availability, finance)",
    ("flow",),
)
EVENTS_OUT = Counter(
    "omni_events_out", "Records the broker acknowledged, by output topic", ("flow", "topic")
)
DUPLICATES = Counter(
    "omni_duplicates_suppressed",
    "Events recognised as re-deliveries or re-submissions and not applied again",
    ("flow", "kind"),
)
ANOMALIES = Counter("omni_anomalies", "Anomalies detected, by type", ("flow", "type"))
EXCEPTIONS = Counter(
    "omni_exceptions", "Records sent to the exception topic, by reason", ("flow", "reason")
)
POSTINGS_FAILED = Counter(
    "omni_postings_failed",
    "Postings not made: events finance sent to the exception topic (by reason), or postings "
    "the broker did not take (not_delivered)",
    ("flow", "reason"),
)
REFUND_MISMATCHES = Counter(
    "omni_refund_mismatches",
    "Refunds with no invoice to credit within the grace (a reconciliation gap)",
    ("flow", "channel"),
)
RECONCILIATION_BACKLOG = Gauge(
    "omni_reconciliation_backlog_windows",
    "Hourly windows of the last day whose newest summary does not reconcile (shipped not "
    "invoiced, refunded not credited, or gaps)",
    ("channel", "currency"),
)
RECONCILIATION_GAP = Gauge(
    "omni_reconciliation_gap",
    "Unexplained amount of the newest hourly summary, in the currency: "
    "|shipped - invoiced| + |refunded - credited|",
    ("channel", "currency"),
)
CONSUMER_LAG = Gauge(
    "omni_consumer_lag_records",
    "Records in the partition after the last one the flow read (high watermark - position)",
    ("flow", "topic", "partition"),
)
KEYS_IN_STATE = Gauge(
    "omni_keys_in_state", "Keys a stateful step holds in this process", ("flow", "step")
)
ORDER_AGING = BatchHistogram(
    "omni_order_aging_seconds",
    "Event time from an order's placing to its first shipment, which finance invoices",
    ("channel",),
    AGING_BUCKETS,
)
AVAILABILITY_LATENCY = BatchHistogram(
    "omni_availability_latency_seconds",
    "Wall clock at publishing an availability update minus the event time of its newest input "
    "(replayed days are far in the past: see omni_consume_delay_seconds)",
    (),
    LATENCY_BUCKETS,
)
POSTING_DELAY = BatchHistogram(
    "omni_posting_delay_seconds",
    "ERP posting delay: wall clock when the posting's transaction committed to the postings "
    "topic minus the event time of its newest source event (replayed days are far in the past)",
    ("channel", "entry_type"),
    POSTING_DELAY_BUCKETS,
)
CONSUME_DELAY = BatchHistogram(
    "omni_consume_delay_seconds",
    "Wall clock when the flow reads a record minus the record's Kafka timestamp (for a "
    "canonical topic: since the upstream flow produced it)",
    ("flow", "topic"),
    LATENCY_BUCKETS,
)

# The broker's outages as the sinks see them (set by `omnichannel.broker_outage.deliver_all`):
# not business metrics, but what an SRE pages on before KAFKA_OUTAGE_TIMEOUT_S stops the flow.
# A sink partition per worker: with several workers in a process they share the labels.
BROKER_UNREACHABLE = Gauge(
    "omni_broker_unreachable_seconds",
    "How long the step has been waiting for the broker to take its records (0: not waiting); "
    "refreshed every few seconds while it waits",
    ("flow", "step"),
)
BROKER_OUTAGES = Counter(
    "omni_broker_outages",
    "Times a sink partition of the step found the broker unreachable and waited for it",
    ("flow", "step"),
)

# Source partitions found stalled and read anew (`omnichannel.kafka_source`).
SOURCE_STALLS = Counter(
    "omni_source_stalls",
    "Times a source partition had records on the broker but fetched none for "
    "SOURCE_STALL_S, and was read anew from its position by a new consumer",
    ("flow", "topic"),
)


@operator
def tap(step_id: str, up: Stream[X], observe: Callable[[list[X]], None]) -> Stream[X]:
    """The stream unchanged; `observe` sees each batch once as it passes."""

    def through(batch: list[X]) -> list[X]:
        observe(batch)
        return batch

    return op.flat_map_batch("flat_map_batch", up, through)


def input_channels(topics: Topics) -> dict[str, str]:
    """The channel label of each input feed."""
    return {
        topics.web_orders: "web",
        topics.pos_orders: "pos",
        topics.marketplace_orders: "marketplace",
        topics.settlements: "marketplace",
        topics.movements: WAREHOUSE,
    }


# (flow, topic, partition) -> the offset after the last record read: the lag watcher's input.
_positions: dict[tuple[str, str, int], int] = {}


def consumed(flow: str) -> Callable[[list[SourceMessage]], None]:
    """Observes Kafka messages as read: the position per partition, the delay since append."""

    def observe(batch: list[SourceMessage]) -> None:
        now = time.time()
        newest: dict[tuple[str, int], int] = {}
        delays: dict[str, list[float]] = {}
        for message in batch:
            topic, stamp = message.topic or "", message.timestamp
            newest[topic, message.partition or 0] = message.offset or 0
            if stamp is not None and stamp[0]:
                delays.setdefault(topic, []).append(now - stamp[1] * 0.001)
        for (topic, partition), offset in newest.items():
            if (flow, topic, partition) not in _positions:
                # At 0 from the first record read: a stall is a rise, not a series appearing.
                SOURCE_STALLS.labels(flow, topic)
            _positions[flow, topic, partition] = offset + 1
        for topic, values in delays.items():
            CONSUME_DELAY.labels(flow, topic).observe_many(values)

    return observe


def normalized(
    flow: str, channels: Mapping[str, str]
) -> Callable[[list[OrderEvent | InventoryMovement | Settlement | ExceptionRecord]], None]:
    """Counts normalization's results: records in, made canonical, refused by reason."""

    def observe(batch: list[OrderEvent | InventoryMovement | Settlement | ExceptionRecord]) -> None:
        inputs: dict[str, int] = {}
        reasons: dict[str, int] = {}
        for result in batch:
            topic = result.source.topic
            inputs[topic] = inputs.get(topic, 0) + 1
            if isinstance(result, ExceptionRecord):
                reasons[result.reason.value] = reasons.get(result.reason.value, 0) + 1
        for topic, count in inputs.items():
            EVENTS_IN.labels(flow, topic, channels.get(topic, UNKNOWN)).inc(count)
        _count_accepted(flow, len(batch), reasons)

    return observe


def decoded(flow: str, topics: Topics) -> Callable[[list[Any]], None]:
    """Counts canonical records as read: per topic and channel, decoded or refused by reason."""
    fixed: dict[type[Contract], tuple[str, str]] = {
        InventoryMovement: (topics.canonical_movements, WAREHOUSE),
        Settlement: (topics.canonical_settlements, "marketplace"),
    }

    def observe(batch: list[Any]) -> None:
        inputs: dict[tuple[str, str], int] = {}
        reasons: dict[str, int] = {}
        for record in batch:
            if isinstance(record, OrderEvent | OrderStockEvent):
                # A whole order event, or availability's view of one.
                where = (topics.canonical_orders, record.channel.value)
            elif isinstance(record, ExceptionRecord):
                where = (record.source.topic, UNKNOWN)
                reasons[record.reason.value] = reasons.get(record.reason.value, 0) + 1
            else:
                where = fixed.get(type(record), (UNKNOWN, UNKNOWN))
            inputs[where] = inputs.get(where, 0) + 1
        for (topic, channel), count in inputs.items():
            EVENTS_IN.labels(flow, topic, channel).inc(count)
        _count_accepted(flow, len(batch), reasons)

    return observe


def _count_accepted(flow: str, records: int, reasons: dict[str, int]) -> None:
    EVENTS_PROCESSED.labels(flow).inc(records - sum(reasons.values()))
    for reason, count in reasons.items():
        EXCEPTIONS.labels(flow, reason).inc(count)


def delivered(flow: str, topics: Iterable[str]) -> None:
    """Counts records the broker acknowledged, given the topic of each."""
    counts: dict[str, int] = {}
    for topic in topics:
        counts[topic] = counts.get(topic, 0) + 1
    for topic, count in counts.items():
        EVENTS_OUT.labels(flow, topic).inc(count)


def anomalies(flow: str) -> Callable[[list[Anomaly]], None]:
    """Counts anomalies by type; duplicates and refunds that found nothing to credit apart."""
    duplicates = {AnomalyType.DUPLICATE_EVENT, AnomalyType.DUPLICATE_ORDER}
    refunded = OrderEventType.REFUNDED.value

    def observe(batch: list[Anomaly]) -> None:
        kinds: dict[AnomalyType, int] = {}
        refunds: dict[str, int] = {}
        for anomaly in batch:
            kind = anomaly.anomaly_type
            kinds[kind] = kinds.get(kind, 0) + 1
            if kind is AnomalyType.RECONCILIATION_GAP and (
                anomaly.details.get("event_type") == refunded
            ):
                channel = anomaly.channel.value if anomaly.channel else UNKNOWN
                refunds[channel] = refunds.get(channel, 0) + 1
        for kind, count in kinds.items():
            ANOMALIES.labels(flow, kind.value).inc(count)
            if kind in duplicates:
                DUPLICATES.labels(flow, kind.value).inc(count)
        for channel, count in refunds.items():
            REFUND_MISMATCHES.labels(flow, channel).inc(count)

    return observe


def postings_refused(flow: str) -> Callable[[list[ExceptionRecord]], None]:
    """Counts the events finance could not post: exceptions, and failed postings, by reason."""
    # At 0 from the start: the alert on the first posting the broker did not take sees it rise.
    POSTINGS_FAILED.labels(flow, NOT_DELIVERED)
    # Refund mismatches too (counted from finance's anomalies): a quiet day charts as 0.
    for channel in Channel:
        REFUND_MISMATCHES.labels(flow, channel.value)

    def observe(batch: list[ExceptionRecord]) -> None:
        reasons: dict[str, int] = {}
        for record in batch:
            reasons[record.reason.value] = reasons.get(record.reason.value, 0) + 1
        for reason, count in reasons.items():
            EXCEPTIONS.labels(flow, reason).inc(count)
            POSTINGS_FAILED.labels(flow, reason).inc(count)

    return observe


class TimedPosting(Protocol):
    """A posting with what its delay is measured by (`omnichannel.postings_sink.Posting`)."""

    @property
    def channel(self) -> str: ...

    @property
    def entry_type(self) -> str: ...

    @property
    def event_time_s(self) -> float: ...


def postings_committed(postings: Iterable[TimedPosting], committed_at_s: float) -> None:
    """Observes the ERP posting delay of a committed transaction's postings, once per batch.

    Args:
        postings: the postings the transaction committed.
        committed_at_s: when it committed, seconds since the Unix epoch (`time.time()`).
    """
    delays: dict[tuple[str, str], list[float]] = {}
    for posting in postings:
        key = (posting.channel, posting.entry_type)
        delays.setdefault(key, []).append(committed_at_s - posting.event_time_s)
    for key, values in delays.items():
        POSTING_DELAY.labels(*key).observe_many(values)


_OPENING = frozenset({OrderEventType.PENDING, OrderEventType.PLACED})


class OrderAging:
    """Order aging: event time from an order's placing to its first shipment, which invoices it.

    Web fulfilments do not say when their order was placed, so each process remembers the
    placing time of its open orders (canonical orders are partitioned by order: every event of
    an order comes to the same process) and forgets it at the first shipment or the
    cancellation; at most `capacity` orders, the oldest dropped first. About a hundred bytes
    an open order, beside the kilobytes of the order's ledger. Orders placed before the process
    started are not observed, nor store sales (invoiced as they are made).
    """

    def __init__(self, capacity: int = 1_000_000) -> None:
        self._capacity = capacity
        self._placed: dict[str, datetime] = {}  # correlation id -> placed at
        self._lock = threading.Lock()  # shared by the workers of the process

    def __call__(self, batch: list[OrderEvent]) -> None:
        ages: dict[str, list[float]] = {}
        opening, shipped, cancelled = _OPENING, OrderEventType.SHIPPED, OrderEventType.CANCELLED
        with self._lock:
            placed = self._placed
            for event in batch:
                kind = event.event_type
                if kind in opening:
                    order = event.correlation_id
                    if order not in placed:
                        placed[order] = event.order_placed_at or event.event_time
                elif kind is shipped:
                    at = placed.pop(event.correlation_id, None)
                    if at is not None:
                        age = (event.event_time - at).total_seconds()
                        ages.setdefault(event.channel.value, []).append(age)
                elif kind is cancelled:
                    placed.pop(event.correlation_id, None)
            while len(placed) > self._capacity:
                del placed[next(iter(placed))]
        for channel, values in ages.items():
            ORDER_AGING.labels(channel).observe_many(values)

    def __len__(self) -> int:
        return len(self._placed)


def availability_latency(batch: list[AvailabilityUpdate]) -> None:
    """Observes, per update published, the wall clock since its newest input's event time."""
    now = datetime.now(UTC)
    AVAILABILITY_LATENCY.labels().observe_many(
        [(now - u.event_time).total_seconds() for u in batch]
    )


class Reconciliation:
    """The reconciliation gauges, from the hourly summaries finance publishes.

    Per (channel, currency) it remembers, for the hours of the last day, whether each hour's
    newest revision reconciles; the gap is that of the newest hour.
    """

    def __init__(self) -> None:
        self._hours: dict[tuple[str, str], dict[datetime, bool]] = {}
        self._lock = threading.Lock()  # summaries of different keys come from any worker

    def __call__(self, batch: list[ReconciliationSummary]) -> None:
        with self._lock:
            for summary in batch:
                key = (summary.channel.value, summary.currency)
                hours = self._hours.setdefault(key, {})
                invoicing = abs(summary.shipped - summary.invoiced)
                crediting = abs(summary.refunded - summary.credited)
                hours[summary.window_start] = bool(invoicing or crediting or summary.gaps)
                newest = max(hours)
                if summary.window_start == newest:
                    # Money is exact up to here; a metric's value is a float.
                    RECONCILIATION_GAP.labels(*key).set(float(invoicing + crediting))
                for start in [hour for hour in hours if hour < newest - BACKLOG_HORIZON]:
                    del hours[start]
                RECONCILIATION_BACKLOG.labels(*key).set(sum(hours.values()))


class _ReadModelPart(Protocol):
    applied: int
    stale: int
    outages: int

    @property
    def pending(self) -> int: ...


class _ReadModelSink(Protocol):
    @property
    def partitions(self) -> Sequence[_ReadModelPart]: ...


class _ReadModelCollector(Collector):
    """The Redis read model sinks' own counters, read at each scrape."""

    def __init__(self) -> None:
        self.sinks: list[_ReadModelSink] = []

    def collect(self) -> Iterator[Metric]:
        parts = [part for sink in list(self.sinks) for part in list(sink.partitions)]
        if not parts:
            return
        updates = CounterMetricFamily(
            "omni_read_model_updates",
            "Availability updates sent to Redis: applied, or stale (a newer version was there)",
            labels=["result"],
        )
        updates.add_metric(["applied"], sum(part.applied for part in parts))
        updates.add_metric(["stale"], sum(part.stale for part in parts))
        yield updates
        yield CounterMetricFamily(
            "omni_read_model_outages",
            "Times Redis became unreachable for a writer",
            value=sum(part.outages for part in parts),
        )
        yield GaugeMetricFamily(
            "omni_read_model_pending_keys",
            "Keys whose newest update Redis has not taken yet (held while it is unreachable)",
            value=sum(part.pending for part in parts),
        )


_read_model = _ReadModelCollector()
REGISTRY.register(_read_model)


def watch_read_model(sink: _ReadModelSink) -> None:
    """Publish the sink's counters with the other metrics."""
    _read_model.sinks.append(sink)


def counting_keys(
    flow: str,
    step: str,
    builder: Callable[[S | None], StatefulLogic[V, W, S]],
    snapshots: bool = True,
) -> Callable[[S | None], StatefulLogic[V, W, S]]:
    """A stateful step's logic builder whose keys are counted in `omni_keys_in_state`.

    `snapshots=False`: the flow runs without recovery, so the state is not copied for the
    snapshots Bytewax asks for at every epoch (it asks with or without recovery)."""
    gauge = KEYS_IN_STATE.labels(flow, step)

    def build(resume_state: S | None) -> StatefulLogic[V, W, S]:
        gauge.inc()
        return _KeyCounted(builder(resume_state), gauge, snapshots)

    return build


def counting_batch_keys(
    flow: str,
    step: str,
    builder: Callable[[S | None], StatefulBatchLogic[V, W, S]],
    snapshots: bool = True,
) -> Callable[[S | None], StatefulBatchLogic[V, W, S]]:
    """A `stateful_batch` step's logic builder whose keys are counted in `omni_keys_in_state`;
    `snapshots` as for `counting_keys`."""
    gauge = KEYS_IN_STATE.labels(flow, step)

    def build(resume_state: S | None) -> StatefulBatchLogic[V, W, S]:
        gauge.inc()
        return _BatchKeyCounted(builder(resume_state), gauge, snapshots)

    return build


class _Counted:
    """What both key counters delegate alike; a discard takes the key off the gauge."""

    def __init__(self, logic: Any, gauge: Gauge, snapshots: bool) -> None:
        self._logic = logic
        self._gauge = gauge
        self._snapshots = snapshots

    def _counted(self, result: tuple[Iterable[W], bool]) -> tuple[Iterable[W], bool]:
        if result[1]:
            self._gauge.dec()
        return result

    def on_notify(self) -> tuple[Iterable[W], bool]:
        return self._counted(self._logic.on_notify())

    def on_eof(self) -> tuple[Iterable[W], bool]:
        return self._counted(self._logic.on_eof())

    def notify_at(self) -> datetime | None:
        return cast(datetime | None, self._logic.notify_at())

    def snapshot(self) -> Any:
        # Without recovery nothing keeps a snapshot: None instead of a copy of the state.
        return self._logic.snapshot() if self._snapshots else None


class _BatchKeyCounted(_Counted, StatefulBatchLogic[V, W, S]):
    """Delegates to the batch logic of one key."""

    def on_batch(self, values: list[V]) -> tuple[Iterable[W], bool]:
        return self._counted(self._logic.on_batch(values))


class _KeyCounted(_Counted, StatefulLogic[V, W, S]):
    """Delegates to the logic of one key."""

    def on_item(self, value: V) -> tuple[Iterable[W], bool]:
        return self._counted(self._logic.on_item(value))


class _LagWatch:
    """Sets the consumer lag of every partition the flow has read from, every `interval_s`."""

    def __init__(self, flow: str, brokers: list[str], interval_s: float) -> None:
        self._flow = flow
        self._config = client_config(brokers) | {
            "group.id": f"omni-metrics-{flow}",
            "enable.auto.commit": False,
        }
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{flow}-lag", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        consumer = Consumer(self._config)
        failing = False
        try:
            while not self._stop.wait(self._interval_s):
                try:
                    self._measure(consumer)
                    failing = False
                except KafkaException as exc:
                    if not failing:  # once per outage, not every interval
                        logger.warning("consumer lag unknown: %s", exc, extra={"flow": self._flow})
                    failing = True
        finally:
            consumer.close()

    def _measure(self, consumer: Consumer) -> None:
        for (flow, topic, partition), position in list(_positions.items()):
            if flow != self._flow:
                continue
            _, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=5.0, cached=False
            )
            CONSUMER_LAG.labels(flow, topic, str(partition)).set(max(0, high - position))


_served: list[int] = []  # the port, once this process serves
_serving_lock = threading.Lock()


def serve_from_env(flow: str) -> int | None:
    """Serve `/metrics` on `METRICS_PORT` (default 9100; 0: none) for this process; the port.

    Turns on Bytewax's dataflow API webserver at that port (it serves Bytewax's metrics and
    this registry's), after checking the port is free: Bytewax's server would only log a
    panic and run on without metrics. Starts the consumer lag watcher, every
    `METRICS_LAG_INTERVAL_S` (default 10). Once per process: later calls return the port.
    """
    port = env_int("METRICS_PORT", DEFAULT_PORT)
    if not 0 <= port <= 65535:
        raise SettingError(f"METRICS_PORT must be a port number or 0 (none), got {port}")
    if port == 0:
        return None
    with _serving_lock:
        if _served:
            return _served[0]
        interval = env_int("METRICS_LAG_INTERVAL_S", DEFAULT_LAG_INTERVAL_S)
        if interval <= 0:
            raise SettingError(f"METRICS_LAG_INTERVAL_S must be positive, got {interval}")
        _check_free(port)
        # A `_created` gauge beside every counter would double the series for no question asked.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        os.environ["BYTEWAX_DATAFLOW_API_ENABLED"] = "true"
        os.environ["BYTEWAX_DATAFLOW_API_PORT"] = str(port)
        # Bytewax writes the flow's graph there; the working directory may be read-only.
        cache = Path(tempfile.gettempdir()) / f"omni-dataflow-api-{flow}"
        cache.mkdir(exist_ok=True)
        os.environ.setdefault("BYTEWAX_DATAFLOW_API_CACHE_PATH", str(cache))
        # At 0 from the start: a scrape names its flow before the first record comes.
        EVENTS_PROCESSED.labels(flow)
        watch = _LagWatch(flow, kafka_brokers_from_env(), interval)
        watch.start()
        atexit.register(watch.stop)
        _served.append(port)
    logger.info("metrics on port %d at /metrics", port, extra={"flow": flow})
    return port


def _check_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError as exc:
            raise SettingError(
                f"METRICS_PORT: port {port} is taken ({exc.strerror}); "
                "set another port, or 0 to serve no metrics"
            ) from None
