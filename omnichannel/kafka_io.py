"""The Kafka edge of the flows: raw records in, encoded records out, delivery checked.

Bytewax's own Kafka sink flushes without looking at delivery reports, so a record the broker
refused would vanish. `CheckedKafkaSink` counts every delivery report of a batch and fails the
batch (and so the worker, which then resumes from its last snapshot) when any was refused.
While the broker is unreachable it waits, up to `KAFKA_OUTAGE_TIMEOUT_S`
(`omnichannel.broker_outage`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaError, KafkaSourceMessage
from bytewax.dataflow import Dataflow, Stream
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import KafkaError as DeliveryError
from confluent_kafka import Message, Producer

from omnichannel import metrics
from omnichannel.broker_outage import deliver_all, outage_timeout_from_env
from omnichannel.decoding import CanonicalDecoder
from omnichannel.kafka_settings import producer_config, source_config
from omnichannel.kafka_source import consume
from operators.adapters.raw import RawRecord
from operators.watermark import Watermark

logger = logging.getLogger(__name__)

REPLAY_COUNT_HEADER = "omni-replay-count"
# librdkafka's RD_KAFKA_PARTITION_UA: the partitioner picks the partition from the key.
ANY_PARTITION = -1

SourceMessage = KafkaSourceMessage[bytes | None, bytes | None]


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    """An encoded record on its way to a topic."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


def raw_record(message: SourceMessage) -> RawRecord:
    """A consumed Kafka message as the raw record the adapters read."""
    replays = 0
    for name, value in message.headers:
        if name == REPLAY_COUNT_HEADER:
            replays = int(value)
    timestamp = message.timestamp[1] if message.timestamp and message.timestamp[1] > 0 else None
    return RawRecord(
        topic=message.topic or "",
        partition=message.partition if message.partition is not None else -1,
        offset=message.offset if message.offset is not None else -1,
        key=message.key,
        value=message.value or b"",
        timestamp_ms=timestamp,
        replay_count=replays,
    )


def log_consumer_error(step_id: str, error: KafkaError[bytes | None, bytes | None]) -> None:
    """Consumer errors that reach here are the broker's (a lost connection): librdkafka retries
    them itself. `consume` has stopped the flow on those that would skip records."""
    logger.warning("%s: Kafka consumer error: %s", step_id, error.err, extra={"step": step_id})


def consume_canonical(
    flow: Dataflow,
    brokers: list[str],
    topics: list[str],
    decoder: CanonicalDecoder,
    tail: bool,
    watermark: Watermark | None = None,
) -> Stream[Any]:
    """Canonical topics read and decoded (into contracts, or the decoder's views of them); an
    unreadable record becomes an exception record. `watermark` is told which partitions of its
    read topics this process reads, and how far it has read each."""
    consumed = consume(
        "consume",
        flow,
        brokers=brokers,
        topics=topics,
        tail=tail,
        add_config=source_config(brokers),
        on_claim=watermark.claim if watermark is not None else None,
    )
    op.inspect("log_consumer_errors", consumed.errs, log_consumer_error)
    read = metrics.tap("meter_consumed", consumed.oks, metrics.consumed(flow.flow_id))
    step = flow.flow_id

    def decode_batch(batch: list[SourceMessage]) -> list[Any]:
        # A batch in one call: two steps per record (as a raw record, then decoded) cost a
        # Python call and a pass through Bytewax each.
        decode = decoder.decode
        records = [decode(raw_record(message), step) for message in batch]
        if watermark is not None:
            watermark.observe_read(_reads(watermark.read_topics, batch, records))
        return records

    return op.flat_map_batch("decode", read, decode_batch)


def _reads(
    topics: frozenset[str], batch: list[SourceMessage], records: list[Any]
) -> list[tuple[tuple[str, int], int, Any]]:
    return [
        ((message.topic, message.partition), message.offset, record)
        for message, record in zip(batch, records, strict=True)
        if message.topic in topics and message.partition is not None
        and message.offset is not None
    ]  # fmt: skip


def produce(
    producer: Producer,
    item: OutboundRecord,
    on_delivery: Callable[[DeliveryError | None, Message], None],
    partition: int = ANY_PARTITION,
) -> None:
    """Queue one record (to `partition`, or by default where its key goes), waiting while the
    local queue is full; serve the delivery reports due."""
    while True:
        try:
            producer.produce(
                item.topic, value=item.value, key=item.key, headers=list(item.headers),
                partition=partition, on_delivery=on_delivery,
            )  # fmt: skip
            break
        except BufferError:
            # The local queue is full: serve delivery reports to make room.
            producer.poll(0.5)
    producer.poll(0)


class _CheckedPartition(StatelessSinkPartition[OutboundRecord]):
    def __init__(self, step_id: str, producer: Producer, outage_timeout: timedelta) -> None:
        self._step_id = step_id
        self._flow = step_id.partition(".")[0]
        self._producer = producer
        self._outage_timeout = outage_timeout
        self._refused: list[str] = []

    def _on_delivery(self, err: DeliveryError | None, message: Message) -> None:
        if err is not None:
            self._refused.append(f"{message.topic()}: {err}")

    def write_batch(self, items: list[OutboundRecord]) -> None:
        for item in items:
            produce(self._producer, item, self._on_delivery)
        self._flush()
        metrics.delivered(self._flow, (item.topic for item in items))

    def _flush(self) -> None:
        deliver_all(self._producer, self._step_id, self._flow, self._outage_timeout)
        if self._refused:
            refused, self._refused = self._refused, []
            raise RuntimeError(
                f"{self._step_id}: the broker refused {len(refused)} records; first: {refused[0]}"
            )

    def close(self) -> None:
        self._flush()


class CheckedKafkaSink(DynamicSink[OutboundRecord]):
    """Produces each record to its own topic and fails the batch on any refused delivery;
    waits out an unreachable broker for `KAFKA_OUTAGE_TIMEOUT_S` (read, and checked, here)."""

    def __init__(self, brokers: list[str]) -> None:
        self._brokers = brokers
        self._outage_timeout = outage_timeout_from_env()

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _CheckedPartition:
        producer = Producer(producer_config(self._brokers))
        return _CheckedPartition(step_id, producer, self._outage_timeout)
