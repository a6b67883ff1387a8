"""A topic read from its beginning to its end as it is now, committed records only.

The end is where the reader stands when the broker says it reached it (`enable.partition.eof`),
not the offset after the last record it returned: in a topic written in transactions
(`erp.postings`), commit and abort markers take offsets that no reader is ever given.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

# A consumer that reads committed records to where a partition ends now. At the end a fetch
# waits for new records up to `fetch.wait.max.ms` before the broker answers that there are
# none (500 ms by default), and only then is the end known: each read took half a second more
# than its records needed.
END_READER: dict[str, object] = {
    "enable.auto.commit": False,
    "enable.partition.eof": True,
    "isolation.level": "read_committed",
    "auto.offset.reset": "error",
    "fetch.wait.max.ms": 10,
}
# consume() waits for a full batch or this long: the end of a partition holding less than a
# batch is known only when it ran out.
BATCH_WAIT_S = 0.02


def read_to_end(
    config: Mapping[str, object], topic: str, batch: int = 1000, timeout_s: float = 60
) -> Iterator[Message]:
    """Every committed record of `topic`, partition by partition in offset order, up to its end.

    `config` is a client configuration (bootstrap servers and security) for the consumer.
    """
    consumer = Consumer(
        {
            **config,
            "group.id": f"omni.reader.{uuid.uuid4().hex[:8]}",
            **END_READER,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics[topic]
        if metadata.error is not None:
            raise KafkaException(metadata.error)
        remaining: set[int] = set()
        starts = []
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout_s
            )
            if high > low:
                remaining.add(partition)
                starts.append(TopicPartition(topic, partition, low))
        consumer.assign(starts)
        deadline = time.monotonic() + timeout_s
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: partitions {sorted(remaining)} not read to the end")
            for message in consumer.consume(num_messages=batch, timeout=BATCH_WAIT_S):
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    remaining.discard(message.partition())
                elif error is not None:
                    raise KafkaException(error)
                elif message.partition() in remaining:
                    yield message
    finally:
        consumer.close()
