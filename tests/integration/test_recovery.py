"""A flow killed with SIGKILL mid-stream resumes from its recovery partitions, exactly.

The availability flow runs through `omni run` (recovery on by default), is killed once it has
published, and is started again to the end of its input: the final number of every key on
the availability topics and in the Redis read model equals the reference computation, as if
it had never stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from omnichannel.codec import codec_for
from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.common import Channel
from omnichannel.localstack import PROJECT_ROOT
from omnichannel.reference import load_reference
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.writers import produce_to_kafka, write_jsonl
from omnichannel.settings import Connections
from omnichannel.topics import Topics
from state.read_model import read_availability
from tests.conftest import RedisNamespace, TopicFactory
from tests.integration.kafka_topics import fresh_topics, read_topic, run_flow, topic_env
from tests.oracle.availability import final_availability

REFERENCE = load_reference()


def published_so_far(bootstrap: str, topics: Topics) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "progress"})
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topics.availability(c), p), timeout=10)[1]
            for c in Channel
            for p in range(3)
        )
    finally:
        consumer.close()


def test_availability_resumes_exactly_after_sigkill(
    connections: Connections,
    kafka_bootstrap: str,
    new_topic: TopicFactory,
    redis_namespace: RedisNamespace,
    tmp_path: Path,
) -> None:
    scenario = generate(ScenarioSettings(seed=5, events=30_000, skus=300), REFERENCE)
    write_jsonl(scenario, tmp_path / "day")
    topics = fresh_topics(new_topic)
    produce_to_kafka(
        scenario, kafka_bootstrap, dict(zip(Topics().inputs, topics.inputs, strict=True))
    )
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, **topic_env(topics)}
    run_flow("dataflows.normalization", {**env, "NORMALIZE_TAIL": "false", "RECOVERY": "off"})

    flow_env = {
        **os.environ,
        **env,
        "REDIS_URL": connections.redis_url,
        "READ_MODEL_PREFIX": redis_namespace.prefix,
        "RECOVERY_DIR": str(tmp_path / "recovery"),
        "RECOVERY_PARTITIONS": "2",
        "SNAPSHOT_INTERVAL_S": "1",
        "BACKUP_INTERVAL_S": "0",
    }
    command = [sys.executable, "-m", "omnichannel.cli", "run", "availability"]
    first = subprocess.Popen(
        command, env={**flow_env, "AVAILABILITY_TAIL": "true"}, cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while published_so_far(kafka_bootstrap, topics) < 500:
            assert first.poll() is None, "the flow ended before it was killed"
            assert time.monotonic() < deadline, "the flow published nothing in 2 minutes"
            time.sleep(0.2)
        time.sleep(1.2)  # past at least one snapshot
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    at_kill = published_so_far(kafka_bootstrap, topics)
    assert len(list((tmp_path / "recovery").glob("part-*.sqlite3"))) == 2

    resumed = subprocess.run(
        command, env={**flow_env, "AVAILABILITY_TAIL": "false"}, cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # It was killed mid-stream: the resumed run had work left to publish.
    assert published_so_far(kafka_bootstrap, topics) > at_kill

    codec = codec_for(AvailabilityUpdate, None)
    newest: dict[tuple[str, str, str | None], AvailabilityUpdate] = {}
    for channel in Channel:
        for record in read_topic(kafka_bootstrap, topics.availability(channel)):
            update = codec.decode_model(record.value)
            key = (update.channel.value, update.sku, update.location)
            if key not in newest or update.version > newest[key].version:
                newest[key] = update
    expected = final_availability(tmp_path / "day", REFERENCE)
    assert {k: u.available_to_sell for k, u in newest.items() if u.available_to_sell} == expected
    for (channel, sku, location), update in newest.items():
        stored = read_availability(
            redis_namespace.client, redis_namespace.prefix, channel, sku, location
        )
        assert stored is not None
        assert (stored["version"], stored["available"]) == (
            update.version,
            update.available_to_sell,
        )
