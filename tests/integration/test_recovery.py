"""A flow killed with SIGKILL mid-stream resumes from its recovery partitions, exactly.

The availability flow runs through `omni run` (recovery on by default), is killed once it has
published, and is started again to the end of its input: the final number of every key on
the availability topics and in the Redis read model equals the reference computation, as if
it had never stopped.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

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
from tests.integration.kafka_topics import (
    fresh_topics,
    newest_availability,
    records_in,
    run_and_kill,
    run_flow,
    topic_env,
)
from tests.oracle.availability import final_availability

REFERENCE = load_reference()
COMMAND = [sys.executable, "-m", "omnichannel.cli", "run", "availability"]


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
    run_flow("dataflows.normalization", {**env, "NORMALIZE_TAIL": "false"})

    flow_env = {
        **env,
        "REDIS_URL": connections.redis_url,
        "READ_MODEL_PREFIX": redis_namespace.prefix,
        "RECOVERY_DIR": str(tmp_path / "recovery"),
        "RECOVERY_PARTITIONS": "2",
        "SNAPSHOT_INTERVAL_S": "1",
        "BACKUP_INTERVAL_S": "0",
    }
    availability = [topics.availability(channel) for channel in Channel]

    def published_and_snapshotted() -> bool:
        if records_in(kafka_bootstrap, availability) < 500:
            return False
        time.sleep(1.2)  # past at least one snapshot
        return True

    run_and_kill(COMMAND, {**flow_env, "AVAILABILITY_TAIL": "true"}, published_and_snapshotted)
    at_kill = records_in(kafka_bootstrap, availability)
    assert len(list((tmp_path / "recovery").glob("part-*.sqlite3"))) == 2

    resumed = subprocess.run(
        COMMAND, env={**flow_env, "AVAILABILITY_TAIL": "false"}, cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # It was killed mid-stream: the resumed run had work left to publish.
    assert records_in(kafka_bootstrap, availability) > at_kill

    newest = newest_availability(kafka_bootstrap, topics)
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
