"""Offsets never skip: a flow resumed where the broker no longer holds its records stops.

Retention (or DeleteRecords) can remove records a stopped flow had not read yet. Resumed from
its snapshot, the flow's position is then below the partition's first offset, and librdkafka's
default (`auto.offset.reset=latest`) would move it to the end of the partition, skipping every
record in between without a word. The flows' sources ask for an error instead and stop on it,
naming the topic, partition and offset. Here on the real broker, with DeleteRecords.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from omnichannel.codec import codec_for
from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.kafka_settings import source_config
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import produce_to_kafka
from omnichannel.topics import Topics
from tests.chaos.flows import FlowProcess, run_to_end
from tests.conftest import TopicFactory
from tests.integration.kafka_topics import fresh_topics, read_topic, topic_env
from tests.integration.live_flows import REFERENCE, halves

DEFAULT = Topics()
STOPPED = "the flow stops rather than skip records"


def delete_before(bootstrap: str, topic: str, partition: int, offset: int) -> None:
    """What retention does to the oldest segments: the partition now starts at `offset`."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.delete_records([TopicPartition(topic, partition, offset)])
    for future in futures.values():
        future.result(timeout=30)


def ends(bootstrap: str, topic: str) -> dict[int, tuple[int, int]]:
    """(first offset, end offset) of each partition of the topic."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "offsets-test"})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            for p in partitions
        }
    finally:
        consumer.close()


def stop_of(process: FlowProcess) -> str:
    """Start the flow to read to its end; it must stop with an error instead. Its log."""
    process.start(tail=False)
    began = time.monotonic()
    status = process.wait(180)
    log = process.log_tail(200_000)
    assert status != 0, f"{process.name} ended normally:\n{log[-3000:]}"
    assert STOPPED in log, log[-3000:]
    print(f"{process.name} stopped {time.monotonic() - began:.1f}s after it started")
    return log


def test_a_consumer_with_the_sources_settings_errs_where_the_default_would_jump(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = new_topic("trimmed")
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for n in range(10):
        producer.produce(topic, value=b"%d" % n)
    assert producer.flush(30) == 0
    delete_before(kafka_bootstrap, topic, 0, 5)

    def first_answer(config: dict[str, str]) -> tuple[int | None, int | None]:
        """(error code, offset) of the first thing a consumer resumed at offset 2 is told."""
        consumer = Consumer(config | {"group.id": "offsets-test", "enable.auto.commit": "false"})
        consumer.assign([TopicPartition(topic, 0, 2)])
        produced_after = False
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if not produced_after and time.monotonic() > deadline - 25:
                    # A record appended later: where a consumer that jumped finds itself.
                    producer.produce(topic, value=b"late")
                    producer.flush(30)
                    produced_after = True
                for message in consumer.consume(10, 0.5):
                    error = message.error()
                    return (error.code() if error else None), message.offset()
            raise AssertionError("the consumer was told nothing")
        finally:
            consumer.close()

    # librdkafka's default moves to the end: records 5 to 9 are skipped without a word.
    assert first_answer({"bootstrap.servers": kafka_bootstrap}) == (None, 10)
    # The sources' settings: an error at the position that is gone.
    assert first_answer(source_config([kafka_bootstrap], {})) == (
        KafkaError._AUTO_OFFSET_RESET,
        2,
    )


def test_normalization_resumed_past_deleted_input_stops_naming_where(
    kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path
) -> None:
    topics = fresh_topics(new_topic)
    first, second = halves(generate(ScenarioSettings(seed=7, events=800, skus=40), REFERENCE))
    web = {DEFAULT.web_orders: topics.web_orders}
    produce_to_kafka(first, kafka_bootstrap, dict(zip(DEFAULT.inputs, topics.inputs, strict=True)))
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "RECOVERY_DIR": str(tmp_path / "recovery"),
        "RECOVERY_PARTITIONS": "1",
        "SNAPSHOT_INTERVAL_S": "1",
        **topic_env(topics),
    }
    normalization = FlowProcess("normalization", env, tmp_path / "logs")
    run_to_end([normalization])
    resumes_at = ends(kafka_bootstrap, topics.web_orders)[0][1]
    assert resumes_at == len(first.records[DEFAULT.web_orders])

    # More orders arrive while the flow is stopped, and retention takes the first few of them.
    produce_to_kafka(second, kafka_bootstrap, web)
    gone_up_to = resumes_at + 5
    delete_before(kafka_bootstrap, topics.web_orders, 0, gone_up_to)
    assert ends(kafka_bootstrap, topics.web_orders)[0][0] == gone_up_to

    log = stop_of(normalization)
    assert (
        f"{topics.web_orders}[0] offset {resumes_at}: the broker does not hold that offset" in log
    )
    # Nothing after the gap was read: every web order normalized comes from before it.
    read: list[int] = []
    for topic, contract in [
        (topics.canonical_orders, OrderEvent),
        (topics.exceptions, ExceptionRecord),
    ]:
        codec = codec_for(contract, None)
        for record in read_topic(kafka_bootstrap, topic):
            source = codec.decode_model(record.value).source
            if source.topic == topics.web_orders:
                read.append(source.offset)
    assert read
    assert max(read) == resumes_at - 1


def test_availability_resumed_past_deleted_canonical_orders_stops_naming_where(
    kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path
) -> None:
    topics = fresh_topics(new_topic)
    first, second = halves(generate(ScenarioSettings(seed=8, events=800, skus=40), REFERENCE))
    inputs = dict(zip(DEFAULT.inputs, topics.inputs, strict=True))
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "RECOVERY_PARTITIONS": "1",
        "SNAPSHOT_INTERVAL_S": "1",
        **topic_env(topics),
    }

    def flow(name: str) -> FlowProcess:
        own = {**env, "RECOVERY_DIR": str(tmp_path / "recovery" / name)}
        return FlowProcess(name, own, tmp_path / "logs")

    normalization, availability = flow("normalization"), flow("availability")
    produce_to_kafka(first, kafka_bootstrap, inputs)
    run_to_end([normalization])
    run_to_end([availability])
    resumes_at = {p: end for p, (_, end) in ends(kafka_bootstrap, topics.canonical_orders).items()}

    # The second half made canonical while availability is stopped; retention takes the
    # oldest of what partition 0 gained.
    produce_to_kafka(second, kafka_bootstrap, inputs)
    run_to_end([normalization])
    first_kept, end = ends(kafka_bootstrap, topics.canonical_orders)[0]
    assert end > resumes_at[0] + 1
    delete_before(kafka_bootstrap, topics.canonical_orders, 0, end - 1)

    log = stop_of(availability)
    named = re.search(rf"{re.escape(topics.canonical_orders)}\[(\d+)\] offset (\d+): ", log)
    assert named is not None, log[-3000:]
    assert (int(named[1]), int(named[2])) == (0, resumes_at[0])
    assert first_kept == 0
