"""The first Bytewax flow on the real broker, run as `python -m bytewax.run`, as in production."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

from confluent_kafka import Consumer, Producer

from omnichannel.kafka_settings import producer_config
from omnichannel.localstack import PROJECT_ROOT
from tests.conftest import TopicFactory

RECORDS = 2_000


def test_mirror_flow_copies_every_record_to_the_same_partition(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    source = new_topic("orders-web", partitions=3)
    sink = new_topic("orders-web-mirror", partitions=3)
    producer = Producer(producer_config([kafka_bootstrap]))
    for n in range(RECORDS):
        producer.produce(
            source, key=str(820982911946154508 + n), value=f'{{"n": {n}}}', headers={"seq": b"x"}
        )
    assert producer.flush(30) == 0

    run = subprocess.run(
        [sys.executable, "-m", "bytewax.run", "dataflows.mirror:flow"],
        env={
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "MIRROR_SOURCE_TOPIC": source,
            "MIRROR_SINK_TOPIC": sink,
            "MIRROR_TAIL": "false",
        },
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stderr

    assert _read_all(kafka_bootstrap, sink) == _read_all(kafka_bootstrap, source)


def _read_all(bootstrap: str, topic: str) -> Counter[tuple[int, bytes, bytes, bytes]]:
    """Every record of the topic as (partition, key, value, header), read to the end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}.check",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    consumer.subscribe([topic])
    records: Counter[tuple[int, bytes, bytes, bytes]] = Counter()
    at_end: set[int] = set()
    try:
        while len(at_end) < 3:
            message = consumer.poll(10.0)
            assert message is not None, f"no end of partition seen on {topic}"
            if message.error():
                assert message.error().code() == message.error()._PARTITION_EOF, message.error()
                at_end.add(message.partition())
                continue
            headers = dict(message.headers() or [])
            records[(message.partition(), message.key(), message.value(), headers["seq"])] += 1
    finally:
        consumer.close()
    return records


def test_mirror_flow_names_a_missing_setting() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIRROR_")}
    env["KAFKA_BOOTSTRAP_SERVERS"] = "127.0.0.1:1"
    run = subprocess.run(
        [sys.executable, "-m", "bytewax.run", "dataflows.mirror:flow"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode != 0
    assert "MIRROR_SOURCE_TOPIC is not set" in run.stderr
