"""Following topics for the workbench: read each to its end now, then onwards, in a thread.

`follow_from` hands a topic's committed records up to its end now to a handler and says where
to go on from; `follow` goes on from there until told to stop. `Follower` is the daemon thread
both the case store and the system's records run them in: `ready()` once the topics were read
to the ends they had at start, `failure` when the thread ended on an error.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from omnichannel.topic_reader import read_to_end

logger = logging.getLogger(__name__)

Handler = Callable[[Message], None]


def follow_from(
    config: dict[str, str], topic: str, handle: Handler, timeout_s: float = 600
) -> list[TopicPartition]:
    """Hand every committed record of the topic, up to its end now, to `handle`; return the
    positions to follow it on from (after the last record read; the beginning of a partition
    that held none)."""
    following: dict[int, int] = {}
    try:
        for message in read_to_end(config, topic, timeout_s=timeout_s):
            handle(message)
            partition, offset = message.partition(), message.offset()
            if partition is not None and offset is not None:
                following[partition] = offset + 1
    except KafkaException as exc:
        raise RuntimeError(f"{topic}: {exc} (are the project's topics created?)") from exc
    consumer = Consumer({**config, "group.id": f"omni.workbench.{uuid.uuid4().hex[:8]}"})
    try:
        partitions = consumer.list_topics(topic, timeout=timeout_s).topics[topic].partitions
    finally:
        consumer.close()
    return [TopicPartition(topic, p, following.get(p, OFFSET_BEGINNING)) for p in partitions]


def follow(
    config: dict[str, str],
    positions: list[TopicPartition],
    handle: Handler,
    stopping: threading.Event,
    after_batch: Callable[[], None] | None = None,
) -> None:
    """Hand each committed record from `positions` on to `handle`, as it arrives, until
    `stopping` is set; `after_batch` is called after each poll, whether it read or not."""
    consumer = Consumer(
        {
            **config,
            "group.id": f"omni.workbench.{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            # A reader for people: records retention removed are gone, the rest still show.
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.assign(positions)
        while not stopping.is_set():
            messages = consumer.consume(num_messages=500, timeout=0.5)
            for message in messages:
                error = message.error()
                if error is None:
                    handle(message)
                elif error.code() != KafkaError._PARTITION_EOF:
                    logger.warning("%s: %s", message.topic(), error)
            if after_batch is not None:
                after_batch()
    finally:
        consumer.close()


class Follower:
    """A daemon thread reading topics for the pages: `follow_topics` reads them to their ends,
    calls `became_ready`, then follows them until `stopping` is set."""

    def __init__(self, name: str, what: str) -> None:
        self.failure: str | None = None
        self._name = name
        self._what = what  # for the log, when the thread ends on an error
        self._ready = threading.Event()
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout_s: float) -> bool:
        return self._ready.wait(timeout_s)

    def became_ready(self) -> None:
        self._ready.set()

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def follow_topics(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        try:
            self.follow_topics()
        except Exception as exc:  # a thread's end is reported (failure), not lost
            self.failure = f"{type(exc).__name__}: {exc}"
            logger.exception("the workbench stopped following %s", self._what)
