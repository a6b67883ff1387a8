"""Reading whole topics back, and running flows as `python -m bytewax.run` processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from omnichannel.contracts.common import Channel
from omnichannel.localstack import PROJECT_ROOT
from omnichannel.topics import Topics
from tests.conftest import TopicFactory


@dataclass(frozen=True)
class Consumed:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def read_topic(bootstrap: str, topic: str) -> list[Consumed]:
    """Every record of the topic, from the beginning to its end now, partition by partition."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"{topic}.reader", "enable.auto.commit": False}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in partitions
        }
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        records: list[Consumed] = []
        remaining = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + 60
        while remaining:
            assert time.monotonic() < deadline, f"{topic}: partitions {remaining} not read to end"
            # consume() waits for a full batch or the timeout: keep the timeout short.
            batch = consumer.consume(num_messages=1000, timeout=0.2)
            for message in batch:
                assert message.error() is None, message.error()
                partition, offset = message.partition(), message.offset()
                assert partition is not None
                assert offset is not None
                records.append(
                    Consumed(topic, partition, offset, message.key(), message.value() or b"")
                )
                if offset + 1 >= ends[partition]:
                    remaining.discard(partition)
        return records
    finally:
        consumer.close()


def fresh_topics(new_topic: TopicFactory, input_partitions: int = 1) -> Topics:
    """Every topic of the project under a fresh name, created on the broker."""
    inputs = {"web_orders", "pos_orders", "marketplace_orders", "settlements", "movements"}
    names = {
        name: new_topic(name.replace("_", "-"), input_partitions if name in inputs else 3)
        for name in Topics.model_fields
        if name != "availability_prefix"
    }
    topics = Topics(**names, availability_prefix=f"{new_topic.prefix}.{uuid.uuid4().hex[:8]}.")
    for channel in Channel:
        new_topic.adopt(topics.availability(channel), partitions=3)
    return topics


def topic_env(topics: Topics) -> dict[str, str]:
    return {f"TOPIC_{name.upper()}": value for name, value in topics.model_dump().items()}


def run_flow(module: str, env: dict[str, str], timeout: float = 300) -> str:
    """Run `python -m bytewax.run <module>:flow` to its end; return what it printed."""
    run = subprocess.run(
        [sys.executable, "-m", "bytewax.run", f"{module}:flow"],
        env={**os.environ, **env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert run.returncode == 0, f"{module} failed:\n{run.stdout[-3000:]}\n{run.stderr[-5000:]}"
    return run.stdout + run.stderr
