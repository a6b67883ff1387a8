"""Reading whole topics back, and running flows as `python -m bytewax.run` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from confluent_kafka import Consumer, TopicPartition

from omnichannel.codec import codec_for
from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.common import Channel, Contract
from omnichannel.localstack import PROJECT_ROOT
from omnichannel.topic_reader import read_to_end
from omnichannel.topics import Topics
from tests.conftest import TopicFactory

C = TypeVar("C", bound=Contract)


@dataclass(frozen=True)
class Consumed:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def read_topic(bootstrap: str, topic: str) -> list[Consumed]:
    """Every committed record of the topic, from the beginning to its end now, partition by
    partition."""
    records: list[Consumed] = []
    for message in read_to_end({"bootstrap.servers": bootstrap}, topic):
        partition, offset = message.partition(), message.offset()
        assert partition is not None
        assert offset is not None
        records.append(Consumed(topic, partition, offset, message.key(), message.value() or b""))
    return records


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
    # METRICS_PORT=0: tests run flows side by side, and each would take the default port.
    env = {f"TOPIC_{name.upper()}": value for name, value in topics.model_dump().items()}
    return env | {"METRICS_PORT": "0"}


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


def records_in(bootstrap: str, topics: list[str]) -> int:
    """How many records the topics hold now (the sum of their partitions' end offsets)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "progress"})
    try:
        total = 0
        for topic in topics:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            for partition in partitions:
                total += consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10
                )[1]
        return total
    finally:
        consumer.close()


def run_and_kill(command: list[str], env: dict[str, str], until: Callable[[], bool]) -> None:
    """Start a flow, wait until `until()` holds (2 minutes at most), then SIGKILL it."""
    process = subprocess.Popen(
        command, env={**os.environ, **env}, cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not until():
            assert process.poll() is None, "the flow ended before it was killed"
            assert time.monotonic() < deadline, "the flow did not get there in 2 minutes"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def read_contracts(bootstrap: str, topic: str, model: type[C]) -> list[C]:
    """Every committed record of the topic, decoded as `model` by one codec (a codec compiles
    its schema when it is made: one per record took 84 s on 27,000 postings)."""
    codec = codec_for(model, None)
    return [codec.decode_model(record.value) for record in read_topic(bootstrap, topic)]


def newest_availability(
    bootstrap: str, topics: Topics
) -> dict[tuple[str, str, str | None], AvailabilityUpdate]:
    """The update of highest version per (channel, SKU, location) on the availability topics."""
    codec = codec_for(AvailabilityUpdate, None)
    newest: dict[tuple[str, str, str | None], AvailabilityUpdate] = {}
    for channel in Channel:
        for record in read_topic(bootstrap, topics.availability(channel)):
            update = codec.decode_model(record.value)
            key = (update.channel.value, update.sku, update.location)
            if key not in newest or update.version > newest[key].version:
                newest[key] = update
    return newest
