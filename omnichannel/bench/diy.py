"""The second baseline: availability's work in a plain confluent-kafka loop, without Bytewax.

    python -m omnichannel.bench.diy   (settings as the availability flow's: KAFKA_BOOTSTRAP_SERVERS,
                                       REDIS_URL, READ_MODEL_PREFIX, TOPIC_*, AVAILABILITY_*)

What a team would write without a stream processor: one thread; one consumer assigned every
partition of the canonical orders and movements from offset 0; a dict of state per order and
one per SKU; the same decoder, domain logic (`operators.availability`), encoder, producer
settings and Redis read model as the availability flow. Each consumed batch is decoded, its
order events folded per order, the resulting changes and the movements applied per SKU, and
what that publishes produced; every second the SKUs whose claims wait are settled, as the flow's
wake-ups do. At the end of every partition each SKU settles and flushes, as the flow does at
the end of its input. No snapshots, no recovery, no exchange between workers, no metrics: what
the flow costs beyond this is the framework's. Prints one JSON line: `{"consumed": N,
"produced": N}`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from omnichannel.contracts.anomaly import Anomaly
from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.encoding import RecordEncoder
from omnichannel.kafka_io import produce
from omnichannel.kafka_settings import client_config, kafka_brokers_from_env, producer_config
from omnichannel.partition_ends import partition_ends
from omnichannel.reference import reference_from_env
from omnichannel.settings import env_int, redis_url_from_env
from omnichannel.topics import Topics
from operators.adapters.raw import RawRecord
from operators.availability.logic import (
    DEFAULT_ORDER_RETENTION,
    OrderStockLogic,
    SkuAvailabilityLogic,
)
from operators.availability.order_events import OrderStockEvent, view_decoder
from operators.availability.sku_stock import AvailabilitySettings, Published
from operators.availability.stock_changes import StockChange, stock_change
from operators.routing import route_anomaly, route_availability, route_exception
from operators.watermark import Watermark
from state.read_model import DEFAULT_PREFIX, ReadModelPartition, RedisReadModelSink

BATCH = 1_000
SETTLE_EVERY_S = 1.0
STEP = "availability"


def run(brokers: list[str], topics: Topics, settings: AvailabilitySettings) -> tuple[int, int]:
    """Availability's work on every record of the canonical topics; (consumed, produced)."""
    consumer = Consumer(
        {**client_config(brokers), "group.id": "bench.diy", "enable.auto.commit": False,
         "enable.partition.eof": True, "auto.offset.reset": "error"}
    )  # fmt: skip
    producer = Producer(producer_config(brokers))
    decoder, encoder = view_decoder(topics), RecordEncoder()
    inputs = [topics.canonical_orders, topics.canonical_movements]
    sources = [topics.web_orders, topics.pos_orders, topics.marketplace_orders, topics.movements]
    watermark = Watermark(read_topics=inputs)
    assigned = [
        TopicPartition(topic, partition, 0)
        for topic in inputs
        for partition in consumer.list_topics(topic, timeout=30).topics[topic].partitions
    ]
    # The input is complete before the loop starts: its ends are learned once, as the flow's
    # watch would (which keeps none when a topic is missing).
    try:
        watermark.learn_ends(partition_ends(consumer, inputs + sources))
    except KafkaException as missing:
        print(f"partition ends unknown ({missing}): every partition read holds the watermark")
    for part in assigned:
        watermark.claim((part.topic, part.partition), None)
    consumer.assign(assigned)
    read_model = _read_model()
    orders: dict[str, OrderStockLogic] = {}
    skus: dict[str, SkuAvailabilityLogic] = {}
    produced = [0]
    refused: list[str] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is None:
            produced[0] += 1
        else:
            refused.append(str(error))

    def publish(results: list[Published | ExceptionRecord]) -> None:
        updates = [r for r in results if isinstance(r, AvailabilityUpdate)]
        for result in results:
            if isinstance(result, AvailabilityUpdate):
                routed = route_availability(result, topics)
            elif isinstance(result, Anomaly):
                routed = route_anomaly(result, topics)
            else:
                routed = route_exception(result, topics)
            produce(producer, encoder.encode(routed), on_delivery)
        producer.poll(0)
        if read_model is not None and updates:
            read_model.write_batch(updates)

    def sku_logic(sku: str) -> SkuAvailabilityLogic:
        logic = skus.get(sku)
        if logic is None:
            logic = skus[sku] = SkuAvailabilityLogic(None, settings, watermark=watermark)
        return logic

    open_partitions = {(part.topic, part.partition) for part in assigned}
    consumed = 0
    next_settle = time.monotonic() + SETTLE_EVERY_S
    while open_partitions:
        messages = []
        for message in consumer.consume(num_messages=BATCH, timeout=0.1):
            error = message.error()
            if error is None:
                messages.append(message)
            elif error.code() == KafkaError._PARTITION_EOF:
                open_partitions.discard((message.topic(), message.partition()))
            else:
                raise RuntimeError(f"consuming: {error}")
        consumed += len(messages)
        raws = [_raw(message) for message in messages]
        records = [decoder.decode(raw, STEP) for raw in raws]
        watermark.observe_read(
            ((raw.topic, raw.partition), raw.offset, record)
            for raw, record in zip(raws, records, strict=True)
        )
        by_order: dict[str, list[OrderStockEvent | OrderEvent]] = defaultdict(list)
        by_sku: dict[str, list[StockChange]] = defaultdict(list)
        unreadable: list[Published | ExceptionRecord] = []
        for record in records:
            if isinstance(record, OrderStockEvent | OrderEvent):
                by_order[record.correlation_id].append(record)
            elif isinstance(record, InventoryMovement):
                change = stock_change(record)
                by_sku[change.sku].append(change)
            elif isinstance(record, ExceptionRecord):
                unreadable.append(record)
        for order_id, events in by_order.items():
            logic = orders.get(order_id)
            if logic is None:
                logic = orders[order_id] = OrderStockLogic(None, DEFAULT_ORDER_RETENTION)
            deltas, _ = logic.on_batch(events)
            for delta in deltas:
                by_sku[delta.sku].append(delta)
        results: list[Published | ExceptionRecord] = unreadable
        for sku, changes in by_sku.items():
            results.extend(sku_logic(sku).on_batch(changes)[0])
        if time.monotonic() >= next_settle:
            now = datetime.now(UTC)
            for sku_state in skus.values():
                due = sku_state.notify_at()
                if due is not None and due <= now:
                    results.extend(sku_state.on_notify()[0])
            next_settle = time.monotonic() + SETTLE_EVERY_S
        publish(results)
    # The end of the input: every claim is judged, every held change published.
    publish([result for logic in skus.values() for result in logic.on_eof()[0]])
    producer.flush(60)
    consumer.close()
    if read_model is not None:
        read_model.close()
    if refused:
        raise RuntimeError(f"{len(refused)} records refused; first: {refused[0]}")
    return consumed, produced[0]


def _raw(message: Message) -> RawRecord:
    kind, timestamp = message.timestamp()
    return RawRecord(
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=message.key(),
        value=message.value() or b"",
        timestamp_ms=timestamp if kind and timestamp > 0 else None,
        replay_count=0,
    )


def _read_model() -> ReadModelPartition | None:
    url = redis_url_from_env()
    if not url:
        return None
    sink = RedisReadModelSink(url, prefix=os.environ.get("READ_MODEL_PREFIX") or DEFAULT_PREFIX)
    return sink.build(STEP, 0, 1)


def main() -> int:
    settings = AvailabilitySettings(
        reference_from_env(),
        coalesce=timedelta(milliseconds=env_int("AVAILABILITY_COALESCE_MS", 250)),
        oversell_grace=timedelta(seconds=env_int("AVAILABILITY_OVERSELL_GRACE_S", 300)),
        hold=timedelta(milliseconds=env_int("AVAILABILITY_HOLD_MS", 2000)),
    )
    consumed, produced = run(kafka_brokers_from_env(), Topics.from_env(), settings)
    print(json.dumps({"consumed": consumed, "produced": produced}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
