"""A source partition whose consumer stops fetching is read anew by a new consumer and reads on.

librdkafka's consumer can stop fetching an assigned partition after a broker restart, for
good and without an error (confluentinc/librdkafka#5153); the outage test lost 758 records
of one partition to it. A paused partition fetches nothing in the same way: the watch must
find it (records on the broker after its position, none coming) and assign it again.
"""

from __future__ import annotations

import time

from confluent_kafka import Producer, TopicPartition

from omnichannel.kafka_settings import source_config
from omnichannel.kafka_source import WatchedKafkaSource
from tests.conftest import TopicFactory


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _read(part: object, passes: int) -> list[bytes]:
    values: list[bytes] = []
    for _ in range(passes):
        values.extend(m.value for m in part.next_batch())  # type: ignore[attr-defined]
        time.sleep(0.01)
    return values


def _read_until(part: object, count: int, within_s: float = 60) -> list[bytes]:
    values: list[bytes] = []
    deadline = time.monotonic() + within_s
    while len(values) < count and time.monotonic() < deadline:
        values.extend(_read(part, 1))
    return values


def test_a_stalled_partition_is_assigned_again_from_its_position_and_reads_on(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = new_topic("stalls", partitions=1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for n in range(3):
        producer.produce(topic, value=f"first-{n}".encode(), partition=0)
    producer.flush(30)

    source = WatchedKafkaSource(
        [kafka_bootstrap], [topic], tail=True, add_config=source_config([kafka_bootstrap])
    )
    source.stall_s = 15.0
    part = source.build_part("flow.consume.kafka_input", f"0-{topic}", None)
    clock = Clock()
    part._clock = clock
    try:
        first = _read_until(part, 3)
        assert first == [b"first-0", b"first-1", b"first-2"]
        # The fetcher stops, as librdkafka's does after some broker restarts; records go on
        # arriving.
        consumer = part._reader._consumer
        consumer.pause([TopicPartition(topic, 0)])
        for n in range(2):
            producer.produce(topic, value=f"later-{n}".encode(), partition=0)
        producer.flush(30)
        assert _read(part, 20) == []  # paused: nothing comes, however often it is asked
        clock.now += 14.0
        assert _read(part, 20) == []  # not yet the wait
        clock.now += 2.0
        later = _read_until(part, 2)
        assert later == [b"later-0", b"later-1"]  # from its position: nothing skipped, none twice
        assert part.snapshot() == 5
    finally:
        part.close()


def test_a_partition_stalled_before_its_first_record_is_assigned_again_from_its_start(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    """A sparse feed (the day's one settlement report) whose partition was empty when it
    stalled: nothing was read, so it is read anew from the beginning."""
    topic = new_topic("sparse", partitions=1)
    source = WatchedKafkaSource(
        [kafka_bootstrap], [topic], tail=True, add_config=source_config([kafka_bootstrap])
    )
    source.stall_s = 15.0
    part = source.build_part("flow.consume.kafka_input", f"0-{topic}", None)
    clock = Clock()
    part._clock = clock
    try:
        assert _read(part, 50) == []
        part._reader._consumer.pause([TopicPartition(topic, 0)])
        clock.now += 16.0
        assert _read(part, 5) == []  # looked: empty, nothing waits
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        producer.produce(topic, value=b"settlement", partition=0)
        producer.flush(30)
        assert _read(part, 20) == []
        clock.now += 16.0
        assert _read_until(part, 1) == [b"settlement"]
        assert part.snapshot() == 1
    finally:
        part.close()
