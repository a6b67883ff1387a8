"""The Kafka topics of one benchmark run: created fresh under a run prefix, deleted afterwards.

A stage's topics are every topic of the project renamed `bench.<run>.<stage>.<name>`; a flow
is pointed at them with the `TOPIC_<NAME>` settings (`omnichannel.topics`), so that each
measurement reads and writes topics no other run or test touches.

End markers: to show that a flow read every partition of its input to the end, one record
that no contract reads is appended at the end of each input partition. Each flow turns it into
an exception record naming its topic, partition and offset; finding them all on the flow's
exception topic proves every record before them was consumed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from omnichannel.codec import codec_for
from omnichannel.contracts.common import Channel
from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.kafka_admin import KEEP_RECORDS
from omnichannel.kafka_settings import client_config, producer_config
from omnichannel.topic_reader import read_to_end
from omnichannel.topics import Topics

END_MARKER_KEY = b"bench-end-of-input"
END_MARKER_VALUE = b"bench: end of input, not a record"
TIMEOUT_S = 60.0


def new_run_id() -> str:
    """A short id naming one run's topics: its start time and a random tail."""
    return f"{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"


def topic_env(topics: Topics) -> dict[str, str]:
    """The `TOPIC_<NAME>` settings that point a flow at these topics."""
    return {f"TOPIC_{name.upper()}": value for name, value in topics.model_dump().items()}


def all_topics(topics: Topics) -> list[str]:
    """Every topic name of a stage, the availability topic of each channel included."""
    names = [value for name, value in topics.model_dump().items() if name != "availability_prefix"]
    return names + [topics.availability(channel) for channel in Channel]


@dataclass
class Workspace:
    """Creates the topics of one run and deletes them all at the end."""

    brokers: list[str]
    run_id: str = field(default_factory=new_run_id)
    created: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        config: dict[str, str | int | float | bool] = {**client_config(self.brokers)}
        self.admin = AdminClient(config)

    def stage(self, stage: str) -> Topics:
        """Every topic of the project renamed for one stage of this run (not created yet)."""
        prefix = f"bench.{self.run_id}.{stage}."
        names = {
            name: prefix + value
            for name, value in Topics().model_dump().items()
            if name != "availability_prefix"
        }
        return Topics(**names, availability_prefix=prefix + "availability.")

    def create(
        self, names: Iterable[str], partitions: int, config: Mapping[str, str] | None = None
    ) -> list[str]:
        """Create the topics (one replica each); they are deleted by `delete_all`."""
        wanted = list(dict.fromkeys(names))
        futures = self.admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=1,
                      config=KEEP_RECORDS | dict(config or {})) for n in wanted],
            operation_timeout=30,
        )  # fmt: skip
        for name, future in futures.items():
            future.result(timeout=TIMEOUT_S)
            self.created.append(name)
        # A flow lists its topics' partitions once, at start: they must all be known by then.
        deadline = time.monotonic() + TIMEOUT_S
        while any(len(self.partitions(name)) < partitions for name in wanted):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the broker does not list every partition of {wanted}")
            time.sleep(0.1)
        return wanted

    def delete_all(self) -> None:
        """Delete every topic this run created."""
        if not self.created:
            return
        for future in self.admin.delete_topics(self.created, operation_timeout=30).values():
            try:
                future.result(timeout=TIMEOUT_S)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise
        self.created.clear()

    def partitions(self, topic: str) -> list[int]:
        metadata = self.admin.list_topics(topic, timeout=TIMEOUT_S).topics[topic]
        return [] if metadata.error is not None else sorted(metadata.partitions)

    def end_offsets(self, topics: Iterable[str]) -> dict[str, int]:
        """Records per topic now: the sum of its partitions' end offsets."""
        consumer = Consumer({**client_config(self.brokers), "group.id": f"bench.{self.run_id}"})
        try:
            counts = {}
            for topic in topics:
                total = 0
                for partition in self.partitions(topic):
                    _, end = consumer.get_watermark_offsets(
                        TopicPartition(topic, partition), timeout=TIMEOUT_S
                    )
                    total += end
                counts[topic] = total
            return counts
        finally:
            consumer.close()

    def append_end_markers(self, topics: Iterable[str]) -> set[tuple[str, int, int]]:
        """Append one end marker to each partition of the topics; return where each landed."""
        producer = Producer(producer_config(self.brokers))
        landed: set[tuple[str, int, int]] = set()
        failures: list[str] = []

        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failures.append(str(error))
                return
            landed.add((message.topic() or "", message.partition() or 0, message.offset() or 0))

        for topic in topics:
            for partition in self.partitions(topic):
                producer.produce(
                    topic, key=END_MARKER_KEY, value=END_MARKER_VALUE,
                    partition=partition, on_delivery=delivered,
                )  # fmt: skip
        producer.flush(TIMEOUT_S)
        if failures:
            raise RuntimeError(f"end markers not delivered: {failures[0]}")
        return landed


class ExceptionWatch:
    """Reads a flow's exception topic as it grows and notes the end markers refused onto it."""

    def __init__(self, brokers: list[str], topic: str) -> None:
        self._codec = codec_for(ExceptionRecord, None)
        # From offset 0 of the bench's own topic: a record missing there is an error, not a jump.
        self._consumer = Consumer(
            {**client_config(brokers), "group.id": f"bench.watch.{uuid.uuid4().hex[:8]}",
             "enable.auto.commit": False, "auto.offset.reset": "error"}
        )  # fmt: skip
        partitions = self._consumer.list_topics(topic, timeout=TIMEOUT_S).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        # (step, topic, partition, offset) of each refused end marker -> when it was read
        self.refused: dict[tuple[str, str, int, int], float] = {}

    def poll(self, timeout_s: float = 0.2) -> None:
        for message in self._consumer.consume(num_messages=5_000, timeout=timeout_s):
            if message.error() is not None:
                raise KafkaException(message.error())
            value = message.value() or b""
            # The marker's own key travels inside the exception record's bytes.
            if END_MARKER_KEY in value:
                record = self._codec.decode_model(value)
                where = (record.step, record.source.topic, record.source.partition,
                         record.source.offset)  # fmt: skip
                self.refused.setdefault(where, time.perf_counter())

    def wait_for(self, markers: set[tuple[str, int, int]], step: str, timeout_s: float) -> float:
        """Wait until `step` refused every marker; return when the last was read (perf_counter)."""
        wanted = {(step, *marker) for marker in markers}
        deadline = time.monotonic() + timeout_s
        while not wanted <= self.refused.keys():
            if time.monotonic() > deadline:
                missing = len(wanted - self.refused.keys())
                raise TimeoutError(
                    f"{step}: {missing} of {len(wanted)} input partitions not read to their end "
                    f"within {timeout_s:.0f}s"
                )
            self.poll()
        return max(self.refused[where] for where in wanted)

    def close(self) -> None:
        self._consumer.close()


def read_all(brokers: list[str], topic: str, batch: int = 5_000) -> Iterable[Message]:
    """Every committed record of the topic from the beginning to its end as it is now."""
    return read_to_end(client_config(brokers), topic, batch, timeout_s=600)
