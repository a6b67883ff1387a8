"""Where each source partition ends, asked of the broker every second: what lets a partition
that was read to its end stop holding a flow's watermark back (`operators.watermark`).

A daemon thread lists the partitions of the source topics and their offsets. While the broker
cannot be reached it keeps the last ends it learned (a warning says so once): records cannot be
appended while it is away, and every record appended before counted in those ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from confluent_kafka import Consumer, KafkaException, TopicPartition

from omnichannel.kafka_settings import client_config

logger = logging.getLogger(__name__)

POLL_EVERY = timedelta(seconds=1)
ASK_TIMEOUT_S = 5.0

PartitionEnds = dict[tuple[str, int], tuple[int, int]]


def partition_ends(consumer: Consumer, topics: list[str]) -> PartitionEnds:
    """Every partition of `topics` with its first offset and the offset after its last record."""
    ends: PartitionEnds = {}
    for topic in topics:
        metadata = consumer.list_topics(topic, timeout=ASK_TIMEOUT_S).topics[topic]
        if metadata.error is not None:
            raise KafkaException(metadata.error)
        for partition in metadata.partitions:
            ends[(topic, partition)] = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=ASK_TIMEOUT_S, cached=False
            )
    return ends


class PartitionEndsWatch:
    """Tells `learn` where the partitions of `topics` end, every `every`, from a daemon thread."""

    def __init__(
        self,
        brokers: list[str],
        topics: list[str],
        learn: Callable[[PartitionEnds], None],
        every: timedelta = POLL_EVERY,
    ) -> None:
        self._brokers = brokers
        self._topics = topics
        self._learn = learn
        self._every = every
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PartitionEndsWatch:
        self._thread = threading.Thread(target=self._run, name="partition-ends", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        consumer = Consumer(
            client_config(self._brokers)
            | {"group.id": "omni-partition-ends", "enable.auto.commit": False}
        )
        unreachable = False
        try:
            while not self._stopped.is_set():
                try:
                    self._learn(partition_ends(consumer, self._topics))
                except KafkaException as exc:
                    if not unreachable:
                        logger.warning(
                            "cannot ask the broker where %s end (%s): the watermark keeps the "
                            "last ends it learned",
                            ", ".join(self._topics),
                            exc,
                        )
                    unreachable = True
                else:
                    if unreachable:
                        logger.info("the broker answers again: partition ends known")
                    unreachable = False
                self._stopped.wait(self._every.total_seconds())
        finally:
            consumer.close()
