"""The real broker: a consumer group gets back exactly what was produced, where murmur2 put it."""

from __future__ import annotations

from collections import Counter

from confluent_kafka import Consumer, Producer

from omnichannel.kafka_settings import producer_config
from omnichannel.partitioning import partition_for
from tests.conftest import TopicFactory

RECORDS = 10_000
PARTITIONS = 3


def test_ten_thousand_records_come_back_once_each(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = new_topic("stock", partitions=PARTITIONS)
    producer = Producer(producer_config([kafka_bootstrap]))
    failures: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    for n in range(RECORDS):
        producer.produce(
            topic, key=f"SKU-{n % 997:04d}", value=f"movement-{n}", on_delivery=on_delivery
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    assert failures == []

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"{topic}.readers",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen: Counter[bytes] = Counter()
    misplaced = []
    idle_polls = 0
    try:
        while sum(seen.values()) < RECORDS and idle_polls < 30:
            batch = consumer.consume(num_messages=1000, timeout=1.0)
            idle_polls = 0 if batch else idle_polls + 1
            for message in batch:
                assert message.error() is None, message.error()
                seen[message.value()] += 1
                if message.partition() != partition_for(message.key(), PARTITIONS):
                    misplaced.append(message.key())
        # Nothing beyond the 10,000 turns up late.
        assert consumer.consume(num_messages=10, timeout=2.0) == []
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()

    assert len(seen) == RECORDS, f"{RECORDS - len(seen)} records missing"
    assert [value for value, count in seen.items() if count > 1] == []
    assert misplaced == [], "librdkafka and Java's murmur2 disagree on partitions"
