"""Effectively-once postings to Kafka: no idempotency key published twice across a crash.

Bytewax resumes a flow from its last snapshot and produces again what came after it. For the
ERP that would be a double posting, so this sink keeps one Bytewax partition per partition of
the postings topic (a key goes where Kafka's murmur2 partitioner puts it), and snapshots the
offset after the last record it wrote there. On resume, each partition first reads what was
written from that offset to the end: the entries its predecessor published after the snapshot.
Their keys are not produced again. Without a snapshot, the whole partition is read (a first
start reads an empty topic).

The window this leaves open: a record the dead process sent but the broker appended only after
the successor read the partition. A successor starts seconds after a crash, by which time the
broker has answered or dropped the dead connection's requests.
"""

from __future__ import annotations

import logging
import time

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka import KafkaError as DeliveryError

from omnichannel import metrics
from omnichannel.kafka_io import OutboundRecord
from omnichannel.kafka_settings import client_config, producer_config
from omnichannel.partitioning import partition_for

logger = logging.getLogger(__name__)

FLUSH_TIMEOUT_S = 60.0
READ_TIMEOUT_S = 60.0


def keys_written(
    brokers: list[str], topic: str, partition: int, start: int | None
) -> tuple[set[bytes], int]:
    """The keys in one partition from `start` (None: the beginning) to its end, and that end."""
    consumer = Consumer(client_config(brokers) | {"group.id": "omni-postings-resume"})
    try:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=READ_TIMEOUT_S
        )
        first = low if start is None else max(start, low)
        if first >= high:
            return set(), high
        consumer.assign([TopicPartition(topic, partition, first)])
        keys: set[bytes] = set()
        deadline = time.monotonic() + READ_TIMEOUT_S
        offset = first - 1
        while offset + 1 < high:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}[{partition}]: could not read to offset {high}")
            for message in consumer.consume(num_messages=1000, timeout=0.2):
                error = message.error()
                if error is not None:
                    raise RuntimeError(f"{topic}[{partition}]: {error}")
                read_at, key = message.offset(), message.key()
                if read_at is not None:
                    offset = read_at
                if key is not None:
                    keys.add(key)
        return keys, high
    finally:
        consumer.close()


class _PostingsPartition(StatefulSinkPartition[OutboundRecord, int]):
    def __init__(
        self,
        brokers: list[str],
        topic: str,
        partition: int,
        resume_from: int | None,
        flow: str,
    ) -> None:
        self._topic = topic
        self._partition = partition
        self._flow = flow
        self._producer = Producer(producer_config(brokers))
        self._already, self._next_offset = keys_written(brokers, topic, partition, resume_from)
        if self._already:
            logger.warning(
                "%s[%d]: %d postings were written after the last snapshot (offsets %s to %d); "
                "not sending them again",
                topic,
                partition,
                len(self._already),
                "the start" if resume_from is None else resume_from,
                self._next_offset - 1,
                extra={"flow": flow, "topic": topic, "partition": partition},
            )
        self._refused: list[str] = []

    def _on_delivery(self, err: DeliveryError | None, message: Message) -> None:
        if err is not None:
            self._refused.append(str(err))
        else:
            written_at = message.offset()
            if written_at is not None:
                self._next_offset = max(self._next_offset, written_at + 1)

    def write_batch(self, items: list[OutboundRecord]) -> None:
        sent = 0
        for item in items:
            if item.key in self._already:
                continue
            sent += 1
            while True:
                try:
                    self._producer.produce(
                        self._topic,
                        value=item.value,
                        key=item.key,
                        partition=self._partition,
                        on_delivery=self._on_delivery,
                    )
                    break
                except BufferError:
                    self._producer.poll(0.5)
            self._producer.poll(0)
        remaining = self._producer.flush(FLUSH_TIMEOUT_S)
        if remaining or self._refused:
            failed = metrics.POSTINGS_FAILED.labels(self._flow, metrics.NOT_DELIVERED)
            failed.inc(remaining + len(self._refused))
        if remaining:
            raise RuntimeError(f"{self._topic}[{self._partition}]: postings not delivered in time")
        if self._refused:
            raise RuntimeError(f"{self._topic}[{self._partition}]: refused: {self._refused[0]}")
        metrics.EVENTS_OUT.labels(self._flow, self._topic).inc(sent)

    def snapshot(self) -> int:
        return self._next_offset

    def close(self) -> None:
        self._producer.flush(FLUSH_TIMEOUT_S)


class PostingsSink(FixedPartitionedSink[OutboundRecord, int]):
    """Produces postings, each to the partition of its key, once across crashes and resumes.

    Items are `(idempotency key, record)`; the record's key must be that idempotency key.
    """

    def __init__(self, brokers: list[str], topic: str) -> None:
        self._brokers = brokers
        self._topic = topic
        self._partitions: int | None = None

    def _partition_count(self) -> int:
        """The postings topic's partitions, asked of the broker once the flow starts."""
        if self._partitions is None:
            consumer = Consumer(client_config(self._brokers) | {"group.id": "omni-postings"})
            try:
                found = consumer.list_topics(self._topic, timeout=READ_TIMEOUT_S).topics
            finally:
                consumer.close()
            metadata = found[self._topic]
            if metadata.error is not None:
                raise RuntimeError(f"postings topic {self._topic}: {metadata.error}")
            self._partitions = len(metadata.partitions)
        return self._partitions

    def list_parts(self) -> list[str]:
        # Zero-padded so that Bytewax's sorted order is the partition order.
        return [f"{n:05d}" for n in range(self._partition_count())]

    def part_fn(self, item_key: str) -> int:
        return partition_for(item_key.encode(), self._partition_count())

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> _PostingsPartition:
        flow = step_id.partition(".")[0]
        return _PostingsPartition(self._brokers, self._topic, int(for_part), resume_state, flow)
