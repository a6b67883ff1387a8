"""The ceiling: consume every input record and produce it unchanged, with no logic at all.

    python -m omnichannel.bench.passthrough --brokers HOST:PORT --to TOPIC TOPIC [TOPIC ...]

The same client library (confluent-kafka on librdkafka) and the same producer settings as the
flows' sinks (`omnichannel.kafka_settings.producer_config`: idempotent, acks=all, lz4, linger
5 ms, murmur2 partitioner, delivery reports checked), one thread, reading every partition of
the input topics from the beginning until each reports its end. Prints one JSON line:
`{"consumed": N, "produced": N}`.
"""

from __future__ import annotations

import argparse
import json
import sys

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from omnichannel.kafka_settings import client_config, producer_config

BATCH = 1_000


def pass_through(brokers: list[str], sources: list[str], sink: str) -> tuple[int, int]:
    """Copy every record of `sources` to `sink`; return (consumed, delivered)."""
    # From offset 0 of the bench's own topics: a record missing there is an error, not a jump.
    consumer = Consumer(
        {**client_config(brokers), "group.id": "bench.passthrough", "enable.auto.commit": False,
         "enable.partition.eof": True, "auto.offset.reset": "error"}
    )  # fmt: skip
    producer = Producer(producer_config(brokers))
    delivered = 0
    refused: list[str] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        nonlocal delivered
        if error is None:
            delivered += 1
        else:
            refused.append(str(error))

    assigned = [
        TopicPartition(topic, partition, 0)
        for topic in sources
        for partition in consumer.list_topics(topic, timeout=30).topics[topic].partitions
    ]
    consumer.assign(assigned)
    open_partitions = {(tp.topic, tp.partition) for tp in assigned}
    consumed = 0
    while open_partitions:
        for message in consumer.consume(num_messages=BATCH, timeout=0.1):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    open_partitions.discard((message.topic(), message.partition()))
                    continue
                raise RuntimeError(f"consuming: {error}")
            consumed += 1
            while True:
                try:
                    producer.produce(
                        sink, value=message.value(), key=message.key(), on_delivery=on_delivery
                    )
                    break
                except BufferError:
                    producer.poll(0.1)
        producer.poll(0)
    producer.flush(60)
    consumer.close()
    if refused:
        raise RuntimeError(f"{len(refused)} records refused; first: {refused[0]}")
    return consumed, delivered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--brokers", required=True, help="host:port[,host:port...]")
    parser.add_argument("--to", required=True, help="the topic to copy every record to")
    parser.add_argument("sources", nargs="+", help="the topics to read to their end")
    args = parser.parse_args(argv)
    consumed, produced = pass_through(args.brokers.split(","), args.sources, args.to)
    print(json.dumps({"consumed": consumed, "produced": produced}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
