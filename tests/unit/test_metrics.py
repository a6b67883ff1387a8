"""The business metrics: their names, and that each tap counts once per batch, correctly."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import bytewax.operators as op
import pytest
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.dataflow import Dataflow
from bytewax.operators import StatefulLogic
from bytewax.testing import TestingSink, TestingSource, run_main
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from omnichannel import metrics
from omnichannel.contracts.anomaly import AnomalyType
from omnichannel.contracts.common import Channel
from omnichannel.contracts.exception_record import ExceptionReason
from omnichannel.contracts.journal import JournalEntryType
from omnichannel.contracts.order_event import OrderEventType
from omnichannel.kafka_io import CheckedKafkaSink, OutboundRecord
from omnichannel.postings_sink import Posting, PostingsSink
from omnichannel.settings import SettingError
from omnichannel.topics import Topics
from tests.unit.contract_examples import (
    MARKETPLACE_OVERSELL,
    MARKETPLACE_SETTLEMENT,
    POS_SALE_INVOICE,
    RECEIPT_MOVEMENT,
    UNKNOWN_EAN_EXCEPTION,
    WEB_AVAILABILITY,
    WEB_HOUR,
    WEB_ORDER_PLACED,
)

TOPICS = Topics()
BUSINESS_METRICS = {
    "omni_events_in": "counter",
    "omni_events_processed": "counter",
    "omni_events_out": "counter",
    "omni_duplicates_suppressed": "counter",
    "omni_anomalies": "counter",
    "omni_exceptions": "counter",
    "omni_postings_failed": "counter",
    "omni_refund_mismatches": "counter",
    "omni_reconciliation_backlog_windows": "gauge",
    "omni_reconciliation_gap": "gauge",
    "omni_consumer_lag_records": "gauge",
    "omni_keys_in_state": "gauge",
    "omni_order_aging_seconds": "histogram",
    "omni_availability_latency_seconds": "histogram",
    "omni_posting_delay_seconds": "histogram",
    "omni_consume_delay_seconds": "histogram",
    "omni_broker_unreachable_seconds": "gauge",
    "omni_broker_outages": "counter",
    "omni_source_stalls": "counter",
}


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def inc_calls() -> Iterator[list[float]]:
    """The amount of every `inc` on any counter child while the test runs."""
    calls: list[float] = []
    original = Counter.inc

    def spy(self: Counter, amount: float = 1, exemplar: Any = None) -> None:
        calls.append(amount)
        original(self, amount, exemplar)

    with mock.patch.object(Counter, "inc", spy):
        yield calls


def test_metric_names_follow_prometheus_conventions() -> None:
    families = {
        family.name: family
        for family in REGISTRY.collect()
        if family.name.startswith("omni_") and not family.name.startswith("omni_read_model")
    }
    assert {name: family.type for name, family in families.items()} == BUSINESS_METRICS
    for name, family in families.items():
        assert re.fullmatch(r"omni(_[a-z]+)+", name), name
        assert family.documentation, name
        if family.type == "histogram":
            assert name.endswith("_seconds"), name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), name


def test_a_tap_sees_each_batch_once_and_passes_it_on_unchanged() -> None:
    seen: list[int] = []
    flow = Dataflow("tapped")
    numbers = op.input("numbers", flow, TestingSource(range(10), batch_size=4))
    out: list[int] = []
    op.output("out", metrics.tap("count", numbers, lambda b: seen.append(len(b))), TestingSink(out))
    run_main(flow)
    assert seen == [4, 4, 2]
    assert out == list(range(10))


def test_normalized_records_counted_per_batch_by_topic_channel_and_reason(
    inc_calls: list[float],
) -> None:
    flow = "test_normalized"
    orders = [WEB_ORDER_PLACED] * 700
    refused = [UNKNOWN_EAN_EXCEPTION] * 3
    metrics.normalized(flow, metrics.input_channels(TOPICS))(
        [*orders, RECEIPT_MOVEMENT, *refused, MARKETPLACE_SETTLEMENT]
    )

    assert value("omni_events_in_total", flow=flow, topic="orders.web", channel="web") == 700
    assert value("omni_events_in_total", flow=flow, topic="orders.pos", channel="pos") == 3
    movements = RECEIPT_MOVEMENT.source.topic
    assert value("omni_events_in_total", flow=flow, topic=movements, channel="warehouse") == 1
    assert value("omni_events_processed_total", flow=flow) == 702
    assert value("omni_exceptions_total", flow=flow, reason="unknown_ean") == 3
    # One increment per label set, not per record: 4 topics, processed, 1 reason.
    assert len(inc_calls) == 6


def test_decoded_records_counted_by_canonical_topic_and_event_channel() -> None:
    flow = "test_decoded"
    pos_order = WEB_ORDER_PLACED.model_copy(update={"channel": Channel.POS})
    unreadable = UNKNOWN_EAN_EXCEPTION.model_copy(
        update={
            "reason": ExceptionReason.INVALID_PAYLOAD,
            "source": UNKNOWN_EAN_EXCEPTION.source.model_copy(
                update={"topic": TOPICS.canonical_orders}
            ),
        }
    )
    observe = metrics.decoded(flow, TOPICS)
    observe([WEB_ORDER_PLACED, pos_order, pos_order, RECEIPT_MOVEMENT])
    observe([MARKETPLACE_SETTLEMENT, unreadable])

    def read(topic: str, channel: str) -> float:
        return value("omni_events_in_total", flow=flow, topic=topic, channel=channel)

    assert read(TOPICS.canonical_orders, "web") == 1
    assert read(TOPICS.canonical_orders, "pos") == 2
    assert read(TOPICS.canonical_orders, "unknown") == 1
    assert read(TOPICS.canonical_movements, "warehouse") == 1
    assert read(TOPICS.canonical_settlements, "marketplace") == 1
    assert value("omni_events_processed_total", flow=flow) == 5
    assert value("omni_exceptions_total", flow=flow, reason="invalid_payload") == 1


def test_consumed_messages_give_positions_for_the_lag_and_delays() -> None:
    flow = "test_consumed"
    now_ms = 1_800_000_000_000

    def message(partition: int, offset: int, appended_ms: int) -> Any:
        return KafkaSourceMessage(
            key=None,
            value=b"",
            topic="t",
            partition=partition,
            offset=offset,
            timestamp=(1, appended_ms),
        )

    with mock.patch("time.time", return_value=now_ms / 1000):
        metrics.consumed(flow)(
            [message(0, 7, now_ms - 20), message(0, 8, now_ms - 2_000), message(1, 3, now_ms)]
        )
    assert metrics._positions[flow, "t", 0] == 9
    assert metrics._positions[flow, "t", 1] == 4
    assert value("omni_consume_delay_seconds_count", flow=flow, topic="t") == 3
    assert value("omni_consume_delay_seconds_bucket", flow=flow, topic="t", le="0.025") == 2
    assert value("omni_consume_delay_seconds_sum", flow=flow, topic="t") == pytest.approx(2.02)


def test_anomalies_counted_by_type_with_duplicates_and_refund_mismatches_apart() -> None:
    flow = "test_anomalies"
    duplicate = MARKETPLACE_OVERSELL.model_copy(
        update={"anomaly_type": AnomalyType.DUPLICATE_EVENT}
    )
    gap = MARKETPLACE_OVERSELL.model_copy(update={"anomaly_type": AnomalyType.RECONCILIATION_GAP})
    refund_gap = gap.model_copy(
        update={"channel": Channel.WEB, "details": {"event_type": OrderEventType.REFUNDED.value}}
    )
    metrics.anomalies(flow)([MARKETPLACE_OVERSELL, duplicate, duplicate, gap, refund_gap])

    assert value("omni_anomalies_total", flow=flow, type="oversell") == 1
    assert value("omni_anomalies_total", flow=flow, type="duplicate_event") == 2
    assert value("omni_anomalies_total", flow=flow, type="reconciliation_gap") == 2
    assert value("omni_duplicates_suppressed_total", flow=flow, kind="duplicate_event") == 2
    assert value("omni_duplicates_suppressed_total", flow=flow, kind="oversell") == 0
    assert value("omni_refund_mismatches_total", flow=flow, channel="web") == 1
    assert value("omni_refund_mismatches_total", flow=flow, channel="marketplace") == 0


def test_postings_refused_are_exceptions_and_failed_postings() -> None:
    flow = "test_refused"
    assert (
        REGISTRY.get_sample_value(
            "omni_postings_failed_total", {"flow": flow, "reason": "not_delivered"}
        )
        is None
    )
    out_of_order = UNKNOWN_EAN_EXCEPTION.model_copy(update={"reason": ExceptionReason.OUT_OF_ORDER})
    metrics.postings_refused(flow)([out_of_order, out_of_order])
    assert value("omni_exceptions_total", flow=flow, reason="out_of_order") == 2
    assert value("omni_postings_failed_total", flow=flow, reason="out_of_order") == 2
    # Not delivered is there from the start, at 0: its alert sees the first one.
    assert (
        REGISTRY.get_sample_value(
            "omni_postings_failed_total", {"flow": flow, "reason": "not_delivered"}
        )
        == 0
    )
    # As are refund mismatches, per channel: a dashboard's panel has data before the first.
    for channel in Channel:
        assert (
            REGISTRY.get_sample_value(
                "omni_refund_mismatches_total", {"flow": flow, "channel": channel.value}
            )
            == 0
        )


def delay(name: str, **labels: str) -> float:
    return value(f"omni_posting_delay_seconds_{name}", **labels)


def test_posting_delay_from_the_newest_source_event_per_channel_and_entry_type() -> None:
    invoice = Posting.of(OutboundRecord("erp.postings", b"k", b"v"), POS_SALE_INVOICE)
    assert (invoice.key, invoice.channel, invoice.entry_type) == (b"k", "pos", "invoice")
    assert invoice.event_time_s == POS_SALE_INVOICE.event_time.timestamp()
    memo = Posting("erp.postings", b"m", b"v", (), "web", "credit_memo", invoice.event_time_s)
    labels = {"channel": "pos", "entry_type": "invoice"}
    before = delay("count", **labels), delay("sum", **labels), delay("bucket", le="5.0", **labels)

    metrics.postings_committed([invoice, invoice, memo], invoice.event_time_s + 4.0)
    assert delay("count", **labels) == before[0] + 2
    assert delay("sum", **labels) == pytest.approx(before[1] + 8.0)
    assert delay("bucket", le="5.0", **labels) == before[2] + 2
    assert delay("count", channel="web", entry_type="credit_memo") >= 1


class _TransactionalProducer:
    """Takes records, delivers them at flush, and commits what it was given."""

    def __init__(self, *_: Any) -> None:
        self.committed: list[str] = []

    def init_transactions(self, timeout: float) -> None:
        pass

    def begin_transaction(self) -> None:
        pass

    def produce(self, topic: str, **_: Any) -> None:
        pass

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0

    def commit_transaction(self, timeout: float) -> None:
        self.committed.append("commit")


def test_postings_sink_measures_the_delay_when_the_transaction_commits() -> None:
    labels = {"channel": "marketplace", "entry_type": "marketplace_settlement"}
    event_time = datetime.now(UTC) - timedelta(minutes=3)
    entry = POS_SALE_INVOICE.model_copy(
        update={
            "channel": Channel.MARKETPLACE,
            "entry_type": JournalEntryType.MARKETPLACE_SETTLEMENT,
            "event_time": event_time,
        }
    )
    postings = [Posting.of(OutboundRecord("erp.postings", b"k", b"v"), entry)] * 3
    producer = _TransactionalProducer()
    with (
        mock.patch("omnichannel.postings_sink.Producer", return_value=producer),
        mock.patch("omnichannel.postings_sink.keys_written", return_value=(set(), 0)),
    ):
        part = PostingsSink(["127.0.0.1:9"], "erp.postings").build_part(
            "test_postings.produce_postings", "00000", None
        )
    before = [delay("count", **labels)] + [
        delay("bucket", le=bound, **labels) for bound in ("120.0", "300.0")
    ]
    part.write_batch([*postings, OutboundRecord("erp.postings", b"plain", b"v")])
    assert delay("count", **labels) == before[0]  # written, not posted yet
    part.snapshot()
    assert producer.committed == ["commit"]
    # Three minutes and a moment: in the five-minute bucket, not the two-minute one.
    assert delay("count", **labels) == before[0] + 3
    assert delay("bucket", le="120.0", **labels) == before[1]
    assert delay("bucket", le="300.0", **labels) == before[2] + 3


def test_order_aging_from_placing_to_first_shipment() -> None:
    aging = metrics.OrderAging(capacity=2)
    placed = WEB_ORDER_PLACED.model_copy(update={"channel": Channel.MARKETPLACE})
    shipped = placed.model_copy(
        update={
            "event_type": OrderEventType.SHIPPED,
            "event_time": placed.event_time + timedelta(hours=3),
            "order_placed_at": None,
        }
    )
    before = value("omni_order_aging_seconds_count", channel="marketplace")
    in_3h = value("omni_order_aging_seconds_bucket", channel="marketplace", le="14400.0")
    aging([placed, placed])
    assert len(aging) == 1
    aging([shipped, shipped])  # the second shipment is not the first
    assert len(aging) == 0
    assert value("omni_order_aging_seconds_count", channel="marketplace") == before + 1
    assert value("omni_order_aging_seconds_bucket", channel="marketplace", le="14400.0") == (
        in_3h + 1
    )

    cancelled = placed.model_copy(update={"event_type": OrderEventType.CANCELLED})
    aging([placed, cancelled, shipped])
    assert value("omni_order_aging_seconds_count", channel="marketplace") == before + 1
    others = [placed.model_copy(update={"correlation_id": f"web:{n}"}) for n in range(3)]
    aging(others)
    assert len(aging) == 2  # at capacity, the oldest goes first


def test_availability_latency_per_update() -> None:
    before = value("omni_availability_latency_seconds_count")
    fresh = WEB_AVAILABILITY.model_copy(update={"event_time": datetime.now(UTC)})
    metrics.availability_latency([fresh] * 5)
    assert value("omni_availability_latency_seconds_count") == before + 5
    assert value("omni_availability_latency_seconds_bucket", le="0.25") >= 5


def test_reconciliation_gap_of_the_newest_hour_and_backlog_of_the_day() -> None:
    reconcile = metrics.Reconciliation()
    hour = timedelta(hours=1)
    keys = {"channel": "marketplace", "currency": "GBP"}
    first = WEB_HOUR.model_copy(update={"channel": Channel.MARKETPLACE, "currency": "GBP"})
    uncredited = first.model_copy(
        update={"window_start": first.window_start + hour, "credited": Decimal("0")}
    )
    reconcile([first, uncredited])
    assert value("omni_reconciliation_gap", **keys) == pytest.approx(32.43)
    assert value("omni_reconciliation_backlog_windows", **keys) == 1

    # A revision of the older hour with a gap counts in the backlog, not in the gap.
    revised = first.model_copy(update={"gaps": 1, "revision": 2})
    reconcile([revised])
    assert value("omni_reconciliation_gap", **keys) == pytest.approx(32.43)
    assert value("omni_reconciliation_backlog_windows", **keys) == 2
    # A day later both are out of the backlog.
    later = first.model_copy(update={"window_start": first.window_start + 30 * hour})
    reconcile([later])
    assert value("omni_reconciliation_gap", **keys) == 0
    assert value("omni_reconciliation_backlog_windows", **keys) == 0


class _Counting(StatefulLogic[int, int, int]):
    def __init__(self, state: int | None) -> None:
        self.state = state or 0

    def on_item(self, value: int) -> tuple[Iterable[int], bool]:
        self.state += value
        return [self.state], value == 0

    def snapshot(self) -> int:
        return self.state


def test_keys_in_state_follow_builds_and_discards() -> None:
    flow = Dataflow("keys")
    items = [("a", 1), ("b", 1), ("c", 1), ("b", 0)]
    keyed = op.input("items", flow, TestingSource(items))
    builder = metrics.counting_keys("test_keys", "sum", _Counting)
    out: list[tuple[str, int]] = []
    op.output("out", op.stateful("sum", keyed, builder), TestingSink(out))
    run_main(flow)
    assert sorted(out) == [("a", 1), ("b", 1), ("b", 1), ("c", 1)]
    assert value("omni_keys_in_state", flow="test_keys", step="sum") == 2


@pytest.mark.parametrize("snapshots", [True, False])
def test_counted_keys_snapshot_their_state_only_when_asked(snapshots: bool) -> None:
    builder = metrics.counting_keys("test_snapshots", "sum", _Counting, snapshots)
    logic = builder(None)
    logic.on_item(3)
    # Without recovery nobody keeps a snapshot: the state is not copied for one.
    assert logic.snapshot() == (3 if snapshots else None)


def test_batch_histogram_buckets_sum_and_exposition() -> None:
    registry = CollectorRegistry()
    histogram = metrics.BatchHistogram("t_seconds", "Test.", ("kind",), (0.01, 0.005), registry)
    histogram.labels("a").observe_many([0.0, 0.005, 0.0051, 1000.0, -3.0])
    families = list(text_string_to_metric_families(generate_latest(registry).decode()))
    samples = {(s.name, s.labels.get("le")): s.value for s in families[0].samples}
    assert samples[("t_seconds_bucket", "0.005")] == 3  # a bound is in its bucket; -3 is 0
    assert samples[("t_seconds_bucket", "0.01")] == 4
    assert samples[("t_seconds_bucket", "+Inf")] == 5
    assert samples[("t_seconds_count", None)] == 5
    assert samples[("t_seconds_sum", None)] == pytest.approx(1000.0101)
    with pytest.raises(ValueError, match="expected labels"):
        histogram.labels()


def test_batch_histogram_takes_batches_from_several_threads() -> None:
    histogram = metrics.BatchHistogram("u_seconds", "Test.", (), (1.0,), CollectorRegistry())
    child = histogram.labels()

    def observe() -> None:
        for _ in range(100):
            child.observe_many([0.5] * 100)

    threads = [threading.Thread(target=observe) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts, total = child.read()
    assert counts == [40_000, 0]
    assert total == pytest.approx(20_000.0)


class _Producer:
    """Takes records and reports each delivered, or refused when `refuse` is set."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.waiting: list[Any] = []

    def produce(self, topic: str, on_delivery: Any, **_: Any) -> None:
        self.waiting.append((topic, on_delivery))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        for topic, on_delivery in self.waiting:
            message = mock.Mock(topic=lambda topic=topic: topic)
            on_delivery("refused" if self.refuse else None, message)
        self.waiting = []
        return 0


def test_sink_counts_records_out_per_topic_once_delivered() -> None:
    sink = CheckedKafkaSink(["127.0.0.1:9"])
    records = [OutboundRecord("a", None, b""), OutboundRecord("b", None, b"")] * 3
    with mock.patch("omnichannel.kafka_io.Producer", return_value=_Producer()):
        part = sink.build("test_sink.produce", 0, 1)
    part.write_batch(records)
    assert value("omni_events_out_total", flow="test_sink", topic="a") == 3
    assert value("omni_events_out_total", flow="test_sink", topic="b") == 3

    with mock.patch("omnichannel.kafka_io.Producer", return_value=_Producer(refuse=True)):
        refusing = sink.build("test_sink.produce", 0, 1)
    with pytest.raises(RuntimeError, match="refused 6 records"):
        refusing.write_batch(records)
    assert value("omni_events_out_total", flow="test_sink", topic="a") == 3


def test_metrics_port_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_PORT", "0")
    assert metrics.serve_from_env("test") is None
    monkeypatch.setenv("METRICS_PORT", "ninety")
    with pytest.raises(SettingError, match="METRICS_PORT"):
        metrics.serve_from_env("test")
    monkeypatch.setenv("METRICS_PORT", "70000")
    with pytest.raises(SettingError, match="METRICS_PORT"):
        metrics.serve_from_env("test")


def test_a_taken_metrics_port_stops_the_flow_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("METRICS_PORT", str(port))
        with pytest.raises(SettingError, match=f"METRICS_PORT: port {port} is taken"):
            metrics.serve_from_env("test")
